"""The style and script of the review page's timeline (`pipeline.write.timeline_html`): inline in
the page, so it works offline. The script shows the acquisition pointed at, focused or clicked
(its chip, date, state, scene, value) beside the chart, and keeps the chart's point and the
filmstrip's frame of the selected acquisition marked."""

CSS = """
.tl{border-top:1px solid #ddd;margin-top:1em;padding-top:.3em}
.tl h4{margin:.4em 0;font-size:1.1em}
.tl-grid{display:grid;grid-template-columns:minmax(0,3fr) minmax(12em,1fr);gap:.6em 1em;
grid-template-areas:"chart detail" "legend detail" "film detail";align-items:start}
.tl-chart{grid-area:chart;padding:0 .9em 0 3.2em}.tl-detail{grid-area:detail}
.tl-film{grid-area:film;min-width:0}.tl-legend{grid-area:legend;margin:0}
@media (max-width:800px){.tl-grid{grid-template-columns:minmax(0,1fr);
grid-template-areas:"chart" "detail" "legend" "film"}}
.tl-svg{display:block;width:100%;overflow:visible;font:12px system-ui,sans-serif}
.tl-svg text{fill:#333}.tl-svg .ptitle{font-weight:700;font-size:12.5px}
.tl-svg .ytick{fill:#555;font-size:11px;paint-order:stroke;stroke:#fff;stroke-width:3px}
.tl-svg .plot{fill:#fff;stroke:#bbb}.tl-svg .grid{stroke:#e4e4e4}
.tl-svg .after-window{fill:#ffd54f;opacity:.3}
.tl-svg .claim{stroke:#b8860b;stroke-width:1.5;stroke-dasharray:5 3}
.tl-svg .mark{stroke:#000;stroke-dasharray:1 3}
.tl-svg .marklabel{font-size:11px}
.tl-svg .event line{stroke-width:1.3;opacity:.85}
.tl-svg .glyph{text-anchor:middle;font-size:13px}
.tl-svg .elabel{font-weight:700;paint-order:stroke;stroke:#fff;stroke-width:3px}
.tl-svg .pt{cursor:pointer;stroke-width:1.2;pointer-events:all}
.tl-svg .pt:focus{outline:none;stroke:#000;stroke-width:3}
.tl-svg .pt.sel{stroke:#000;stroke-width:3;r:7px}
.tl-svg .xtick.narrow{display:none}
@media (max-width:600px){.tl-svg .xtick.wide{display:none}.tl-svg .xtick.narrow{display:inline}}
.nowrap{white-space:nowrap}
.st-occupied{color:#b01f20;font-weight:700}.st-empty{color:#1f7a1f;font-weight:700}
.st-unknown,.st-not-usable{color:#555;font-weight:700}
.tl-legend span{display:inline-block;margin-right:1.2em}
.sw.line{height:.25em;vertical-align:.2em;border:0;width:1.4em}
.sw.ring{border-radius:50%;border-width:2px;background:#fff}
.tl-detail{background:#f6f6f6;border:1px solid #ddd;border-radius:.4em;padding:.6em;
display:flex;flex-wrap:wrap;gap:.3em .8em;align-items:flex-start}
.tl-detail p{margin:.2em 0}
.tl-pic{flex:1 0 10em;max-width:16em}.tl-text{flex:1 1 11em;min-width:0}
.tl-pic .chipbox{width:100%;height:auto}
.chipbox{position:relative;display:block;height:64px;background:#000}
.chipbox img,.chipbox svg{position:absolute;inset:0;width:100%;height:100%;max-width:none;
image-rendering:pixelated}
.film{display:flex;gap:.35em;overflow-x:auto;list-style:none;margin:.4em 0;padding:.2em .1em .6em;
position:relative;overscroll-behavior-x:contain}
.film li{flex:0 0 auto}
.film .frame{display:flex;flex-direction:column;align-items:center;padding:.2em .2em .1em;
background:#fff;border:1px solid #ccc;border-bottom:5px solid #7f7f7f;border-radius:.2em;
font-size:11px;line-height:1.3}
.film .frame.occupied{border-bottom-color:#d62728}.film .frame.empty{border-bottom-color:#2ca02c}
.film .frame.sel{outline:3px solid #2a6dd6;background:#e3eefc}
.fstate{font-weight:700}.frame.occupied .fstate{color:#b01f20}.frame.empty .fstate{color:#1f7a1f}
.fseries,.ftag{color:#555}.ftag{font-weight:700;color:#000}
.claimmark{display:flex;align-items:center;border-left:2px dashed #b8860b;padding:0 .3em;
font-size:11px;color:#7a5a00}
@media (max-width:600px){.tl-pic{flex-basis:8em}.tl-text{flex-basis:9em}}
"""

JS = r"""
(function () {
  "use strict";
  document.querySelectorAll("section.tl").forEach(function (tl) {
    // time order (the chart draws one panel per kind of sensor)
    var pts = Array.prototype.slice.call(tl.querySelectorAll("circle.pt")).sort(function (a, b) {
      return Number(a.getAttribute("data-i")) - Number(b.getAttribute("data-i"));
    });
    var film = tl.querySelector(".film");
    var detail = tl.querySelector(".tl-detail");
    var selected = null;
    function frame(i) {
      return film ? film.querySelector('.frame[data-i="' + i + '"]') : null;
    }
    function put(cls, text) { detail.querySelector(cls).textContent = text; }
    function show(pt) {
      if (!pt) { return; }
      var d = pt.dataset;
      put(".tl-when", d.when);
      put(".tl-state", d.state);
      detail.querySelector(".tl-state").className = "tl-state st-" + d.state.replace(" ", "-");
      put(".tl-series", d.series);
      put(".tl-scene", d.scene);
      put(".tl-value", d.value);
      var pic = detail.querySelector(".tl-pic");
      pic.textContent = "";
      var f = frame(d.i);
      if (f) {
        pic.appendChild(f.querySelector(".chipbox").cloneNode(true));
      } else {
        pic.textContent = d.used === "1" ? "(no picture of this acquisition)"
          : "(no picture: not usable)";
      }
      detail.setAttribute("data-i", d.i);
    }
    function select(pt, scroll) {
      if (selected) {
        selected.classList.remove("sel");
        var old = frame(selected.dataset.i);
        if (old) { old.classList.remove("sel"); old.setAttribute("aria-pressed", "false"); }
      }
      selected = pt;
      pt.classList.add("sel");
      var f = frame(pt.dataset.i);
      if (f) {
        f.classList.add("sel"); f.setAttribute("aria-pressed", "true");
        if (scroll) {
          var li = f.parentNode;
          film.scrollLeft = li.offsetLeft - film.clientWidth / 2 + li.offsetWidth / 2;
        }
      }
      show(pt);
    }
    pts.forEach(function (pt, k) {
      pt.addEventListener("mouseenter", function () { show(pt); });
      pt.addEventListener("mouseleave", function () { show(selected); });
      pt.addEventListener("focus", function () { show(pt); });
      pt.addEventListener("blur", function () { show(selected); });
      pt.addEventListener("click", function () { select(pt, true); });
      pt.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") {
          select(pt, true); ev.preventDefault();
        } else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
          var next = pts[k + (ev.key === "ArrowRight" ? 1 : -1)];
          if (next) { next.focus(); }
          ev.preventDefault();
        }
      });
    });
    if (film) {
      film.querySelectorAll(".frame").forEach(function (f) {
        f.addEventListener("click", function () {
          var pt = tl.querySelector('circle.pt[data-i="' + f.getAttribute("data-i") + '"]');
          if (pt) { select(pt, false); }
        });
      });
    }
    var usable = pts.filter(function (p) { return frame(p.dataset.i); });
    if (usable.length) { select(usable[usable.length - 1], true); }
    else if (pts.length) { select(pts[pts.length - 1], false); }
  });
})();
"""
