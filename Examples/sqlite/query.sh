#!/bin/sh
# One client, one private database: a copy of the seed database in this container's /tmp, then
# sqlite3 reads the client's SQL from the socket and writes the results back. Nothing is shared
# with any other client: the next connection gets a fresh container and a fresh copy.
cat /data/seed.db >/tmp/db.sqlite || exit 1   # cat, not cp: the copy must be writable
exec /usr/bin/sqlite3 -bail -header -column /tmp/db.sqlite 2>&1
