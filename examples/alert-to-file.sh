#!/bin/sh
# A local receiver for `pipeline watch` alerts (configs/demo-watch.yaml): appends the JSON payload
# it gets on stdin to the file named by its argument, one alert per line.
set -eu
payload=$(cat)
printf '%s\n' "$payload" >> "$1"
