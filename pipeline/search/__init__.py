"""Catalogue back ends behind one Protocol (STAC API, static, Planetary Computer, Sentinel Hub):
each is a `pipeline.model.scene.Source` whose `search` takes one `pipeline.model.scene.Query`."""
