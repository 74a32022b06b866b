#!/usr/bin/env python3
"""Parses a Prometheus text exposition with the reference Python parser and prints every
sample as JSON: [{"family", "type", "name", "labels", "value"}, ...]. Exits 1 on a parse error.
Used by GangerCoreTests (StatusServerTests) on the text /metrics served.

usage: check-metrics.py FILE
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families

with open(sys.argv[1], encoding="utf-8") as f:
    text = f.read()
out = []
try:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            value = sample.value
            out.append({"family": family.name, "type": family.type, "help": family.documentation,
                        "name": sample.name, "labels": sample.labels,
                        "value": value if value not in (float("inf"), float("-inf")) else str(value)})
except Exception as error:  # the parser raises ValueError and friends
    print(f"parse error: {error!r}", file=sys.stderr)
    sys.exit(1)
json.dump(out, sys.stdout)
