#!/bin/sh
# One connection: wait for one byte from the client, then send $SOURCE_MIB MiB of zeros
# (default 1024) in 1 MiB writes and close. A single-connection source for throughput through a
# container-per-connection proxy, where iperf3's two connections cannot go.
head -c 1 >/dev/null || exit 0
exec dd if=/dev/zero bs=1048576 count="${SOURCE_MIB:-1024}" 2>/dev/null
