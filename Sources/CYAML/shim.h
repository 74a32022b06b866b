// libyaml, the reference YAML 1.1 parser (Debian: libyaml-dev to build, libyaml-0-2 to run).
// Ganger reads its configuration through it instead of Yams, whose full Foundation import
// brings ICU's 34 MB of data into the static binary (docs/container.md). No logic here.
#include <yaml.h>
