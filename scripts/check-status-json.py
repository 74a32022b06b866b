#!/usr/bin/env python3
"""Validates a /status.json document against docs/status.schema.json with `jsonschema`
(Draft 2020-12). Prints "ok", or every violation and exits 1. Used by GangerCoreTests.

usage: check-status-json.py SCHEMA DOCUMENT
"""
import json
import sys

import jsonschema

with open(sys.argv[1], encoding="utf-8") as f:
    schema = json.load(f)
with open(sys.argv[2], encoding="utf-8") as f:
    document = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path))
for error in errors:
    print("/".join(str(p) for p in error.path) + ": " + error.message)
if errors:
    sys.exit(1)
print("ok")
