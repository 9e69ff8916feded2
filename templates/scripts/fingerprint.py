#!/usr/bin/env python3
"""tfpilot plan fingerprint (algorithm version 1).

Usage: python3 fingerprint.py plan.json [module_name]

Prints `sha256:<hex>`: the fingerprint of the plan's resource changes (address,
deposed key, actions, move source, import, and the planned values known before
apply, with sensitive values replaced by their hash), optionally only those
under `module.<module_name>`. Exit status 1 with a message on stderr when the
file is not a Terraform JSON plan.

This is the same algorithm as tfpilot's `src/core/fingerprint.rs`, whose module
documentation is the specification; a test runs both on every plan fixture.
Python 3 standard library only. Written by `tfpilot init`; do not edit in an
infrastructure repository (edits make every apply fail the fingerprint check).
"""
import decimal
import hashlib
import json
import math
import sys

VERSION = 1
_LIMIT = 2 ** 53


class PlanError(Exception):
    """The input is not a readable Terraform JSON plan."""


# ---------------------------------------------------------------- canonical JSON
def _string(s):
    # ensure_ascii=False escapes exactly: " \ \b \f \n \r \t and other < U+0020
    # as \u00xx (lowercase), like the Rust side.
    return json.dumps(s, ensure_ascii=False)


def _number(x):
    if isinstance(x, int):
        if -(2 ** 63) <= x < 2 ** 64:
            return str(x)
        try:
            x = float(x)
        except OverflowError:
            raise PlanError("number out of range") from None
    if math.isnan(x) or math.isinf(x):
        raise PlanError("number out of range")
    if x.is_integer() and abs(x) < _LIMIT:
        return str(int(x))
    # repr() gives the shortest digits that round-trip; rewrite as d[.ddd]e<exp>.
    sign, digits, exp = decimal.Decimal(repr(x)).as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exp += 1
    sci = exp + len(digits) - 1
    mantissa = str(digits[0])
    if len(digits) > 1:
        mantissa += "." + "".join(str(d) for d in digits[1:])
    return ("-" if sign else "") + mantissa + "e" + str(sci)


def canonical(v):
    """Canonical JSON text: sorted keys, no whitespace, fixed number form."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return _number(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(_string(k) + ":" + canonical(v[k]) for k in sorted(v)) + "}"
    raise PlanError("unexpected JSON value")


def _sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- sensitivity
def _strings(v, out):
    if isinstance(v, str):
        out.add(v)
    elif isinstance(v, list):
        for x in v:
            _strings(x, out)
    elif isinstance(v, dict):
        for x in v.values():
            _strings(x, out)


def _marked(value, mask, out):
    if mask is True:
        _strings(value, out)
    elif isinstance(mask, dict) and isinstance(value, dict):
        for k, m in mask.items():
            if k in value:
                _marked(value[k], m, out)
    elif isinstance(mask, list) and isinstance(value, list):
        for x, m in zip(value, mask):
            _marked(x, m, out)


def _obj(v):
    return v if isinstance(v, dict) else {}


def sensitive_strings(plan):
    out = set()
    for rc in plan.get("resource_changes") or []:
        ch = _obj(_obj(rc).get("change"))
        _marked(ch.get("before"), ch.get("before_sensitive"), out)
        _marked(ch.get("after"), ch.get("after_sensitive"), out)
    for ch in _obj(plan.get("output_changes")).values():
        ch = _obj(ch)
        _marked(ch.get("before"), ch.get("before_sensitive"), out)
        _marked(ch.get("after"), ch.get("after_sensitive"), out)
    declared = _obj(_obj(_obj(plan.get("configuration")).get("root_module")).get("variables"))
    for name, var in _obj(plan.get("variables")).items():
        if _obj(declared.get(name)).get("sensitive") is True:
            _marked(_obj(var).get("value"), True, out)
    return out


# ---------------------------------------------------------------- entries
def known(value, unknown):
    if unknown is True:
        return None
    if isinstance(value, dict) and isinstance(unknown, dict):
        return {k: (known(v, unknown[k]) if k in unknown else v)
                for k, v in value.items() if unknown.get(k) is not True}
    if isinstance(value, list) and isinstance(unknown, list):
        return [known(v, unknown[i]) if i < len(unknown) else v for i, v in enumerate(value)]
    return value


def _hashed(value):
    return "sensitive:sha256:" + _sha256_hex(canonical(value))


def redact(value, mask, secrets):
    if mask is True:
        return _hashed(value)
    if isinstance(value, dict):
        masks = mask if isinstance(mask, dict) else {}
        return {k: redact(v, masks.get(k), secrets) for k, v in value.items()}
    if isinstance(value, list):
        masks = mask if isinstance(mask, list) else []
        return [redact(v, masks[i] if i < len(masks) else None, secrets) for i, v in enumerate(value)]
    if isinstance(value, str) and value in secrets:
        return _hashed(value)
    return value


def _non_empty(v):
    return v if isinstance(v, str) and v != "" else None


def entry(rc, secrets):
    ch = _obj(rc.get("change"))
    after = redact(known(ch.get("after"), ch.get("after_unknown")), ch.get("after_sensitive"), secrets)
    importing = ch.get("importing")
    return {
        "address": rc.get("address") or "",
        "deposed": _non_empty(rc.get("deposed")),
        "actions": ch.get("actions") or [],
        "previous_address": _non_empty(rc.get("previous_address")),
        "importing": None if importing is None else redact(importing, None, secrets),
        "after": after,
    }


def canonical_input(plan, module=None):
    if not isinstance(plan, dict):
        raise PlanError("plan.json is not a JSON object")
    version = plan.get("format_version")
    if not isinstance(version, str):
        raise PlanError("plan.json has no format_version: not `terraform show -json` output")
    if version.split(".")[0] not in ("0", "1"):
        raise PlanError("unsupported plan format_version")
    secrets = sensitive_strings(plan)
    prefix = None
    if module:
        prefix = module if module.startswith("module.") else "module." + module
    selected = []
    for rc in plan.get("resource_changes") or []:
        rc = _obj(rc)
        address = rc.get("address") or ""
        if prefix is not None:
            rest = address[len(prefix):] if address.startswith(prefix) else None
            if rest is None or not (rest.startswith(".") or rest.startswith("[")):
                continue
        selected.append((address, rc.get("deposed") or "", entry(rc, secrets)))
    selected.sort(key=lambda t: (t[0], t[1]))
    return canonical({"resource_changes": [e for _, _, e in selected], "version": VERSION})


def fingerprint(plan, module=None):
    return "sha256:" + _sha256_hex(canonical_input(plan, module))


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: fingerprint.py plan.json [module_name]", file=sys.stderr)
        return 2
    try:
        with open(argv[1], "rb") as f:
            plan = json.loads(f.read().decode("utf-8-sig"))
        print(fingerprint(plan, argv[2] if len(argv) == 3 else None))
    except (OSError, ValueError, RecursionError, PlanError) as e:
        print(f"fingerprint.py: cannot read {argv[1]}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
