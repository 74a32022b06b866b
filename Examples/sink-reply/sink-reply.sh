#!/bin/sh
# One connection: read everything until the client half-closes, then send it all back and close.
# Nothing is written before EOF arrives, so a reply proves the proxy forwarded the half-close.
f=/tmp/in.$$
cat >"$f" && cat "$f"
rm -f "$f"
