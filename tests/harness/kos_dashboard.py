"""Which metrics the Grafana dashboard (dashboards/kos.json) queries, and which ones kos exports:
from the C sources (what renders /metrics) or from a live /metrics page. Standard library only.

    dash = kos_dashboard.load()
    unknown = kos_dashboard.unknown_names(dash, kos_dashboard.exported_from_source())
    assert unknown == {}, unknown      # {metric: [where it is queried]}

The PromQL reading is deliberately small: it drops string literals, label matchers, ranges,
grouping clauses and numbers, and takes every remaining identifier that is not a function, a
keyword or a Grafana variable as a metric name. That is exact for the queries a dashboard
holds (no metric names hidden in `{__name__=...}` matchers: the test of the dashboard checks
there are none).
"""

import json
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = REPO_ROOT / "dashboards" / "kos.json"

# Series the dashboard reads that kos does not export: kube-state-metrics' HPA series (the HPA's
# view next to the lag; https://github.com/kubernetes/kube-state-metrics, docs/metrics/workload/
# horizontalpodautoscaler-metrics.md). Every panel using them says so in its description.
EXTERNAL = {
    "kube_horizontalpodautoscaler_info": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_min_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_max_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_spec_target_metric": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_target_metric": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_condition": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_current_replicas": "kube-state-metrics",
    "kube_horizontalpodautoscaler_status_desired_replicas": "kube-state-metrics",
}

_KEYWORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
             "group_right", "offset", "inf", "nan", "atan2"}
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", re.S)


def load(path=DASHBOARD):
    return json.loads(Path(path).read_text())


def metric_names(expr):
    """Metric names in one PromQL expression (or a Grafana label_values(selector, label))."""
    if re.fullmatch(r"\s*label_values\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", expr):
        return set()  # label_values(label): over all series
    m = _LABEL_VALUES.match(expr)
    if m:
        expr = m.group(1)
    s = re.sub(r"\$\{[^}]*\}|\$[A-Za-z0-9_]+", " ", expr)  # Grafana variables
    s = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', s)
    s = re.sub(r"\{[^{}]*\}", " ", s)  # label matchers
    s = re.sub(r"\[[^\[\]]*\]", " ", s)  # ranges, subqueries
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?[0-9][0-9a-z]*", " ", s)
    s = re.sub(r"(?<![A-Za-z0-9_:])[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?", " ", s)
    names = set()
    for tok in _IDENT.finditer(s):
        word = tok.group(0)
        rest = s[tok.end():].lstrip()
        if rest.startswith("(") or word.lower() in _KEYWORDS:
            continue  # a function or aggregation, or a keyword
        names.add(word)
    return names


def queries(dash):
    """[(where, expr)] for every panel target (rows' nested panels included) and every query
    variable."""
    out = []

    def panels(ps):
        for p in ps:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((f"panel {p.get('id')} {p.get('title')!r} {t.get('refId')}",
                                t["expr"]))
            panels(p.get("panels", []))

    panels(dash.get("panels", []))
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query") if isinstance(q, dict) else q
            if q:
                out.append((f"variable ${v['name']}", q))
    return out


def used_names(dash):
    """{metric: [where]} over the whole dashboard."""
    used = {}
    for where, expr in queries(dash):
        for n in metric_names(expr):
            used.setdefault(n, []).append(where)
    return used


def unknown_names(dash, exported):
    """{metric: [where]} for every queried metric neither in EXPORTED nor in EXTERNAL."""
    return {n: w for n, w in used_names(dash).items() if n not in exported and n not in EXTERNAL}


# Calls that name a metric family on /metrics: kos_prom_* (common/metrics.h) and the programs'
# thin wrappers around kos_prom_meta (counter, gauge, per_topic in processor/ and datagen/stats.c).
_NAME = r"\"([A-Za-z_:][A-Za-z0-9_:]*)\""
_FAMILY_CALL = re.compile(
    r"\b(kos_prom_meta|kos_prom_u64|kos_prom_double|kos_prom_histogram|counter|gauge)"
    r"\s*\(\s*[A-Za-z_][A-Za-z0-9_>.-]*,\s*" + _NAME)
_PER_TOPIC_CALL = re.compile(
    r"\bper_topic\s*\(\s*[A-Za-z_][A-Za-z0-9_>.-]*,\s*[A-Za-z_][A-Za-z0-9_>.-]*,\s*" + _NAME)
_TYPE_LINE = re.compile(r"# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)")


def exported_from_source(root=REPO_ROOT):
    """Series names the programs write on /metrics, read from adapter/, processor/, datagen/:
    families announced with a "# TYPE" line in a string literal or passed to a kos_prom_* call
    (or a counter/gauge/per_topic wrapper); a histogram family gives _bucket, _sum and _count."""
    names = set()
    for d in ("adapter", "processor", "datagen"):
        for f in sorted((Path(root) / d).glob("*.c")):
            code, literals = _c_split(f.read_text(errors="replace"))
            for lit in literals:
                for name, typ in _TYPE_LINE.findall(lit):
                    names |= _series(name, typ)
            for fn, name in _FAMILY_CALL.findall(code):
                names |= _series(name, "histogram" if fn == "kos_prom_histogram" else "")
            names |= set(_PER_TOPIC_CALL.findall(code))
    return names


def _c_split(text):
    """C source -> (the code with comments removed and string literals kept, every string
    literal with \\n decoded). Adjacent literals are joined, as the compiler does."""
    code, literals, i, n = [], [], 0, len(text)
    pending = None  # a literal that the next one may continue
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            i = text.find("*/", i + 2) + 2 if text.find("*/", i + 2) >= 0 else n
        elif text.startswith("//", i):
            i = text.find("\n", i) if text.find("\n", i) >= 0 else n
        elif c == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            code.append(" ")
            i = j + 1
        elif c == '"':
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append("\n" if text[j + 1] == "n" else text[j + 1])
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            lit = "".join(buf)
            pending = (pending or "") + lit
            code.append(text[i:j + 1])
            i = j + 1
            k = i
            while k < n and text[k] in " \t\r\n":
                k += 1
            if k >= n or text[k] != '"':
                literals.append(pending)
                pending = None
        else:
            code.append(c)
            i += 1
    return "".join(code), literals


def exported_from_exposition(text):
    """Series names of a Prometheus text page (sample lines, plus the series a # TYPE line
    announces even when it has no sample yet)."""
    names = set()
    for line in text.splitlines():
        m = _TYPE_LINE.match(line)
        if m:
            names |= _series(*m.groups())
        elif line and not line.startswith("#"):
            names.add(_IDENT.match(line).group(0))
    return names


def _series(name, typ):
    if typ == "histogram":
        return {name + "_bucket", name + "_sum", name + "_count"}
    if typ == "summary":
        return {name, name + "_sum", name + "_count"}
    return {name}
