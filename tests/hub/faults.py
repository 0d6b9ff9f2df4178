"""Fault injection for the test hub (see tests/hub/README.md, "Faults").

A fault is a JSON object: {"type": ..., "match": <regex searched in the request target>,
"count": N (default 1; -1 = forever), "skip": K (let K matching requests pass first),
"methods": [...], "host": <regex on Host>, "range": <regex on Range>, plus type-specific
options}. Each request takes every matching fault that still has a count left
and decrements it, so "count: 2" means "the first two matching requests".
"""

import math
import re
import threading
import time

# Faults that change how a body is sent only make sense for requests that get a body.
BODY_TYPES = {"drop", "corrupt", "slow", "ignore_range"}
TYPES = BODY_TYPES | {"status", "hang", "expire_cdn", "reset"}


class FaultError(ValueError):
    pass


class Fault:
    def __init__(self, spec):
        if not isinstance(spec, dict):
            raise FaultError("fault must be an object, got %r" % (spec,))
        self.spec = dict(spec)
        self.type = spec.get("type")
        if self.type not in TYPES:
            raise FaultError("unknown fault type %r (known: %s)" % (self.type, ", ".join(sorted(TYPES))))
        try:
            self.match = re.compile(spec.get("match", ""))
            self.host = re.compile(spec["host"]) if spec.get("host") else None
            self.range = re.compile(spec["range"]) if spec.get("range") else None
        except re.error as e:
            raise FaultError("bad regex in fault %r: %s" % (spec, e))
        self.count = int(spec.get("count", 1))
        self.skip = int(spec.get("skip", 0))
        mid_body = self.type in BODY_TYPES or (self.type == "hang" and "after_bytes" in spec)
        default_methods = ["GET"] if mid_body else None
        self.methods = spec.get("methods", default_methods)
        self.hits = 0
        if self.type == "status":
            self.status = int(spec.get("status", 503))
            if not 400 <= self.status <= 599:
                raise FaultError("status fault needs a 4xx/5xx status")
        if self.type == "drop" and int(spec.get("after_bytes", 0)) < 0:
            raise FaultError("drop.after_bytes must be >= 0")
        if self.type == "slow" and int(spec.get("bytes_per_sec", 0)) <= 0:
            raise FaultError("slow.bytes_per_sec must be > 0")
        if self.type in ANSWER_TYPES:
            init_answer_fault(self, spec)

    def applies(self, method, target, host, range_header):
        if self.count == 0:
            return False
        if self.methods is not None and method not in self.methods:
            return False
        if self.host is not None and not self.host.search(host or ""):
            return False
        if self.range is not None and not self.range.search(range_header or ""):
            return False
        if self.type == "expire_cdn" and not target.startswith(("/cdn/", "/cas/xorb/")):
            return False
        if self.type == "ignore_range" and not range_header:
            return False
        if not self.match.search(target):
            return False
        if self.type == "rate_limit":
            return rate_limit_open(self)
        return True

    def to_json(self):
        out = dict(self.spec)
        out["remaining"] = self.count
        out["hits"] = self.hits
        return out


class FaultSet:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []

    def replace(self, specs, append=False):
        parsed = [Fault(s) for s in specs]  # validate everything before changing anything
        with self._lock:
            self._faults = (self._faults if append else []) + parsed

    def take(self, method, target, host, range_header):
        taken = []
        with self._lock:
            for f in self._faults:
                if f.applies(method, target, host, range_header):
                    if f.skip > 0:  # let the first `skip` matching requests through
                        f.skip -= 1
                        continue
                    if f.count > 0:
                        f.count -= 1
                    f.hits += 1
                    taken.append(f)
        return taken

    def to_json(self):
        with self._lock:
            return [f.to_json() for f in self._faults]


# ---- canned answers: rate-limit windows and redirects (issue 11.5/11.6) ---------------------
#
# rate_limit {"seconds": 2, "bucket": "api", "quota": 500, "window": 300}: a window that opens
#   at the first matching request and lasts `seconds`; every matching request inside it gets
#   429 with only the IETF draft headers the Hub sends (no Retry-After):
#   RateLimit: "<bucket>";r=0;t=<whole seconds left, rounded up>
#   RateLimit-Policy: "fixed window";"<bucket>";q=<quota>;w=<window>
#   Afterwards matching requests pass. `count` is ignored (the clock decides).
# redirect {"location": "...", "status": 307}: answers that redirect (empty body) instead of
#   the real response, e.g. an absolute Location on another host for an API call.

ANSWER_TYPES = {"rate_limit", "redirect"}
TYPES = TYPES | ANSWER_TYPES


def init_answer_fault(fault, spec):
    if fault.type == "rate_limit":
        fault.seconds = float(spec.get("seconds", 2))
        if fault.seconds <= 0:
            raise FaultError("rate_limit.seconds must be > 0")
        fault.count = -1
        fault.window_end = None
    else:
        if not isinstance(spec.get("location"), str) or not spec["location"]:
            raise FaultError("redirect needs a location")
        fault.status = int(spec.get("status", 307))
        if not 300 <= fault.status <= 399:
            raise FaultError("redirect.status must be 3xx")


def rate_limit_open(fault):
    now = time.monotonic()
    if fault.window_end is None:
        fault.window_end = now + fault.seconds
    if now >= fault.window_end:
        fault.count = 0  # the window is over for good
        return False
    return True


def canned_answer(fault):
    """(status, headers, message) for a fault of ANSWER_TYPES."""
    if fault.type == "redirect":
        return fault.status, {"Location": fault.spec["location"]}, "Moved"
    bucket = fault.spec.get("bucket", "api")
    left = max(1, int(math.ceil(fault.window_end - time.monotonic())))
    headers = {"RateLimit": '"%s";r=0;t=%d' % (bucket, left),
               "RateLimit-Policy": '"fixed window";"%s";q=%d;w=%d'
                                   % (bucket, int(fault.spec.get("quota", 500)),
                                      int(fault.spec.get("window", 300)))}
    return 429, headers, "Too Many Requests: you have reached your '%s' rate limit" % bucket


def load_fault_specs(obj):
    """Accepts {"faults": [...]} or a bare list."""
    if isinstance(obj, dict):
        obj = obj.get("faults", [])
    if not isinstance(obj, list):
        raise FaultError("faults must be a list")
    return obj
