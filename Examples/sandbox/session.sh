#!/bin/sh
# One interactive shell per connection (busybox nc -ll -e forks this with the socket as stdin and
# stdout); its prompts and errors go to the client too.
cd /tmp || exit 1
export HOME=/tmp PS1='sandbox:\w\$ '
exec /bin/sh -i 2>&1
