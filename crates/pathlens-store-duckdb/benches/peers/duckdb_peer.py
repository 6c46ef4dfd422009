"""The DuckDB peer of the dashboard benchmark.

A plain DuckDB (the Python package) answers the dashboard's questions from
the same raw events pathlens stored, with SQL written for it, in two
variants:

- raw: every question worked out from the raw events, each view's increase
  of play_time_sum chained at query time over the whole history;
- precomputed: each view's increase worked out once, at load, into a column
  (used when no context filter applies; a filter changes the chain, so
  filtered questions chain the filtered views as in the raw variant).

Usage: duckdb_peer.py SPEC.json OUT.json

SPEC (written by benches/dashboard.rs) names pathlens's database file (its
raw events are copied into the peer's own tables, in memory), the
video, its graph's facts and the workloads (lists of questions: a period,
buckets, which figures, a context filter; or the values of a dimension with
their plays and events; or a breakdown: the totals of each of some values
of a dimension, each as with the filter narrowed to it, answered by one
GROUP BY whose view chains are partitioned by the value too). OUT gets, per variant and
workload, p50 / p99 ms of answering the whole workload and the answers of
the first run, which the benchmark checks equal to pathlens's before it
reports a time.
"""

import json
import sys
import time

import duckdb

VIEW, IMPRESSION, PLAY, NODE_PLAY, SWITCH, CLICK = 4, 1, 3, 5, 6, 7
MAX_VIEW_MS = 30000


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def in_list(items):
    return ", ".join(quote(i) for i in items) if items else "NULL"


def filter_sql(question):
    conditions = []
    for column, key in (("country", "countries"),):
        values = question.get(key) or []
        if values:
            unknown = f" OR {column} IS NULL" if "unknown" in values else ""
            conditions.append(f"({column} IN ({in_list(values)}){unknown})")
    users = question.get("user_ids") or []
    if users:
        conditions.append(f"user_id IN ({in_list(users)})")
    return conditions


CHAIN = f"""CASE WHEN previous_ms IS NOT NULL AND sum_ms >= previous_ms
        THEN least(sum_ms - previous_ms, {MAX_VIEW_MS}) ELSE least(sum_ms, {MAX_VIEW_MS}) END"""


def period_rows(con, spec, question, precomputed):
    """Creates temp table f: the question's events with view_ms."""
    start, end = question["start"], question["end"]
    video = f"partner_id = {spec['partner_id']} AND video_id = {quote(spec['video_id'])}"
    conditions = filter_sql(question)
    where = " AND ".join([video] + conditions)
    if precomputed and not conditions:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE f AS SELECT * FROM ev_pre WHERE {where} "
            f"AND ts_us >= {start} AND ts_us < {end}"
        )
        return
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE f AS
        WITH src AS (SELECT * FROM ev WHERE {where} AND ts_us < {end}),
        chained AS (
            SELECT seq, {CHAIN} AS view_ms FROM (
                SELECT seq, round(play_time_sum * 1000.0)::BIGINT AS sum_ms,
                    lag(round(play_time_sum * 1000.0)::BIGINT) OVER (
                        PARTITION BY session_id, player_session, entry_id
                        ORDER BY event_index, ts_us) AS previous_ms
                FROM src WHERE kind = {VIEW} AND play_time_sum IS NOT NULL)
        )
        SELECT src.*, coalesce(chained.view_ms, 0)::BIGINT AS view_ms
        FROM src LEFT JOIN chained USING (seq) WHERE src.ts_us >= {start}"""
    )


def values_answer(con, spec, question):
    """The values of a dimension with their plays and events."""
    column = question["dimension"]
    video = f"partner_id = {spec['partner_id']} AND video_id = {quote(spec['video_id'])}"
    where = " AND ".join(
        [video, f"ts_us >= {question['start']}", f"ts_us < {question['end']}"]
        + filter_sql(question)
    )
    rows = con.execute(
        f"""SELECT coalesce({column}, 'unknown') AS value, count(*) FILTER (WHERE kind = {PLAY}),
            count(*) FROM ev WHERE {where} GROUP BY ALL ORDER BY value"""
    ).fetchall()
    return {"values": [[v, int(p), int(e)] for v, p, e in rows]}


def breakdown_answer(con, spec, question):
    """Each value's totals, as if the filter were narrowed to it: events
    without the value do not exist for it, so its view chains run over its
    own views (the chain is partitioned by the value)."""
    column = question["dimension"]
    value = f"coalesce({column}, 'unknown')"
    start, end = question["start"], question["end"]
    video = f"partner_id = {spec['partner_id']} AND video_id = {quote(spec['video_id'])}"
    where = " AND ".join(
        [video, f"ts_us < {end}", f"{value} IN ({in_list(question['values'])})"]
        + filter_sql(question)
    )
    ends = in_list(spec["ends"])
    rows = con.execute(
        f"""WITH src AS (SELECT *, {value} AS value FROM ev WHERE {where}),
        chained AS (
            SELECT seq, {CHAIN} AS view_ms FROM (
                SELECT seq, round(play_time_sum * 1000.0)::BIGINT AS sum_ms,
                    lag(round(play_time_sum * 1000.0)::BIGINT) OVER (
                        PARTITION BY value, session_id, player_session, entry_id
                        ORDER BY event_index, ts_us) AS previous_ms
                FROM src WHERE kind = {VIEW} AND play_time_sum IS NOT NULL)
        ),
        f AS (
            SELECT src.value, src.kind, src.session_id, src.user_id, src.node_id,
                src.to_node_id, coalesce(chained.view_ms, 0)::BIGINT AS view_ms
            FROM src LEFT JOIN chained USING (seq) WHERE src.ts_us >= {start}
        ),
        done AS (
            SELECT DISTINCT value, session_id FROM f
            WHERE (kind = {NODE_PLAY} AND node_id IN ({ends}))
                OR (kind = {SWITCH} AND to_node_id IN ({ends}))
        )
        SELECT f.value, count(*) FILTER (WHERE kind = {IMPRESSION}),
            count(*) FILTER (WHERE kind = {PLAY}),
            coalesce(count(DISTINCT user_id) FILTER (WHERE kind = {PLAY})
                + max(CASE WHEN kind = {PLAY} AND user_id IS NULL THEN 1 ELSE 0 END), 0),
            sum(view_ms)::BIGINT,
            count(DISTINCT f.session_id) FILTER (WHERE kind = {PLAY}),
            count(DISTINCT f.session_id) FILTER (WHERE kind = {PLAY} AND d.session_id IS NOT NULL)
        FROM f LEFT JOIN done d ON d.value = f.value AND d.session_id = f.session_id
        GROUP BY f.value"""
    ).fetchall()
    found = {v: [int(x or 0) for x in figures] for v, *figures in rows}
    return {"breakdown": [[v, found.get(v, [0, 0, 0, 0, 0, 0])] for v in question["values"]]}


def answer(con, spec, question, precomputed):
    if question.get("dimension"):
        if question.get("buckets"):
            return breakdown_answer(con, spec, question)
        return values_answer(con, spec, question)
    period_rows(con, spec, question, precomputed)
    ends = in_list(spec["ends"])
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE done AS SELECT DISTINCT session_id FROM f
        WHERE (kind = {NODE_PLAY} AND node_id IN ({ends}))
            OR (kind = {SWITCH} AND to_node_id IN ({ends}))"""
    )
    counted = f"""CASE WHEN f.kind = {CLICK} THEN f.hotspot_id
        WHEN f.kind = {SWITCH} AND e.from_node = f.from_node_id AND e.to_node = f.to_node_id
        THEN f.hotspot_id END"""
    out = {}
    buckets = question.get("buckets") or []
    if buckets:
        values = ", ".join(f"({i}, {s}::BIGINT, {e}::BIGINT)" for i, (s, e) in enumerate(buckets))
        rows = con.execute(
            f"""WITH b AS (SELECT * FROM (VALUES {values}) t(idx, b_start, b_end)),
            x AS (SELECT b.idx, f.kind, f.session_id, f.user_id, f.view_ms
                FROM f JOIN b ON f.ts_us >= b.b_start AND f.ts_us < b.b_end)
            SELECT idx, count(*) FILTER (WHERE kind = {IMPRESSION}),
                count(*) FILTER (WHERE kind = {PLAY}),
                coalesce(count(DISTINCT user_id) FILTER (WHERE kind = {PLAY})
                    + max(CASE WHEN kind = {PLAY} AND user_id IS NULL THEN 1 ELSE 0 END), 0),
                sum(view_ms)::BIGINT,
                count(DISTINCT session_id) FILTER (WHERE kind = {PLAY}),
                count(DISTINCT session_id) FILTER (WHERE kind = {PLAY}
                    AND session_id IN (SELECT session_id FROM done))
            FROM x GROUP BY idx"""
        ).fetchall()
        totals = [[0, 0, 0, 0, 0, 0] for _ in buckets]
        for idx, *figures in rows:
            totals[idx] = [int(v or 0) for v in figures]
        out["totals"] = totals
    if question.get("nodes"):
        only = question.get("only_node")
        nodes = {only: [0, 0, 0, 0, 0]} if only else {n: [0, 0, 0, 0, 0] for n in spec["durations"]}
        one = f" AND node_id = {quote(only)}" if only else ""
        for node, plays, viewers, view_ms in con.execute(
            f"""SELECT node_id, count(*) FILTER (WHERE kind = {NODE_PLAY}),
                count(DISTINCT user_id) + max(CASE WHEN user_id IS NULL THEN 1 ELSE 0 END),
                sum(view_ms)::BIGINT
            FROM f WHERE node_id IS NOT NULL{one} GROUP BY node_id"""
        ).fetchall():
            nodes[node] = [plays, viewers, view_ms, 0, 0]
        # Each node play's views' 1 % buckets, as the union of bit masks.
        for node, watched in con.execute(
            f"""WITH ordered AS (
                SELECT session_id, node_id, kind, position, view_ms,
                    sum(CASE WHEN kind = {NODE_PLAY} THEN 1 ELSE 0 END) OVER (
                        PARTITION BY session_id, node_id ORDER BY ts_us, event_index, kind = {VIEW}
                        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS play
                FROM f WHERE node_id IS NOT NULL AND kind IN ({NODE_PLAY}, {VIEW}){one}
            ),
            spans AS (
                SELECT o.session_id, o.node_id, o.play, o.position * 1000.0 AS end_ms,
                    greatest(o.position * 1000.0 - o.view_ms::DOUBLE, 0.0) AS start_ms,
                    d.duration_ms::DOUBLE AS duration_ms
                FROM ordered o JOIN durations d ON d.node = o.node_id
                WHERE o.kind = {VIEW} AND o.play > 0 AND o.position IS NOT NULL
                    AND o.view_ms > 0 AND d.duration_ms > 0
            ),
            ranges AS (
                SELECT session_id, node_id, play, first, greatest(last, first) AS last FROM (
                    SELECT session_id, node_id, play,
                        least(greatest(floor(start_ms * 100.0 / duration_ms + 1e-6), 0.0), 99.0)::INTEGER AS first,
                        least(greatest(ceil(end_ms * 100.0 / duration_ms - 1e-6) - 1.0, 0.0), 99.0)::INTEGER AS last
                    FROM spans)
            ),
            per_play AS (
                SELECT node_id, bit_or((1::HUGEINT << (last + 1)::HUGEINT) - (1::HUGEINT << first::HUGEINT)) AS mask
                FROM ranges GROUP BY session_id, node_id, play
            )
            SELECT node_id, sum(bit_count(mask))::BIGINT FROM per_play GROUP BY node_id"""
        ).fetchall():
            if node in nodes:
                nodes[node][3] = watched
        for node, dropoffs in con.execute(
            f"""SELECT node_id, count(*) FROM (
                SELECT session_id, arg_max(node_id, [ts_us, event_index::BIGINT]) AS node_id
                FROM f WHERE kind = {NODE_PLAY} AND node_id IS NOT NULL GROUP BY session_id
            ) WHERE session_id NOT IN (SELECT session_id FROM done){one} GROUP BY node_id"""
        ).fetchall():
            if node in nodes:
                nodes[node][4] = dropoffs
        out["nodes"] = {k: [int(v or 0) for v in vs] for k, vs in nodes.items()}
    if question.get("clicks"):
        out["clicks"] = {
            h: n
            for h, n in con.execute(
                f"""SELECT counted, count(*) FROM (
                    SELECT {counted} AS counted FROM f LEFT JOIN edges e ON e.hotspot = f.hotspot_id
                    WHERE f.kind IN ({CLICK}, {SWITCH}))
                WHERE counted IS NOT NULL GROUP BY counted"""
            ).fetchall()
        }
    if question.get("transitions"):
        out["transitions"] = [
            [a, b, h, n]
            for a, b, h, n in con.execute(
                f"""SELECT f.from_node_id, f.to_node_id, {counted}, count(*)
                FROM f LEFT JOIN edges e ON e.hotspot = f.hotspot_id
                WHERE f.kind = {SWITCH} AND f.from_node_id IS NOT NULL AND f.to_node_id IS NOT NULL
                GROUP BY ALL"""
            ).fetchall()
        ]
    return out


def percentile(sorted_ms, p):
    return sorted_ms[round((len(sorted_ms) - 1) * p)]


def main():
    spec = json.load(open(sys.argv[1]))
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(f"ATTACH {quote(spec['database'])} AS pathlens (READ_ONLY)")
    con.execute(
        """CREATE TABLE ev AS SELECT seq, partner_id, video_id, ts_us, kind, session_id,
            event_index, node_id, entry_id, user_id, position, play_time_sum, from_node_id,
            to_node_id, hotspot_id, country, device, os, browser, referrer_domain,
            application, playback_type, player_session
        FROM pathlens.events ORDER BY partner_id, video_id, ts_us"""
    )
    con.execute("DETACH pathlens")
    load_raw = time.perf_counter() - started
    started = time.perf_counter()
    con.execute(
        f"""CREATE TABLE ev_pre AS
        SELECT ev.*, coalesce(c.view_ms, 0)::BIGINT AS view_ms FROM ev LEFT JOIN (
            SELECT seq, {CHAIN} AS view_ms FROM (
                SELECT seq, round(play_time_sum * 1000.0)::BIGINT AS sum_ms,
                    lag(round(play_time_sum * 1000.0)::BIGINT) OVER (
                        PARTITION BY partner_id, video_id, session_id, player_session, entry_id
                        ORDER BY event_index, ts_us) AS previous_ms
                FROM ev WHERE kind = {VIEW} AND play_time_sum IS NOT NULL)
        ) c USING (seq) ORDER BY partner_id, video_id, ts_us"""
    )
    load_pre = time.perf_counter() - started
    edges = ", ".join(f"({quote(h)}, {quote(a)}, {quote(b)})" for h, a, b in spec["edges"]) or None
    con.execute(
        "CREATE TABLE edges AS SELECT * FROM (VALUES "
        + (edges or "(NULL, NULL, NULL)")
        + ") t(hotspot, from_node, to_node)"
        + ("" if edges else " WHERE false")
    )
    durations = ", ".join(f"({quote(n)}, {d}::BIGINT)" for n, d in spec["durations"].items())
    con.execute(f"CREATE TABLE durations AS SELECT * FROM (VALUES {durations}) t(node, duration_ms)")
    result = {"load_s": {"raw": load_raw, "precomputed": load_raw + load_pre}, "variants": {}}
    for variant, precomputed in (("raw", False), ("precomputed", True)):
        per_workload = {}
        for workload in spec["workloads"]:
            answers = [answer(con, spec, q, precomputed) for q in workload["questions"]]
            times = []
            for _ in range(spec["runs"]):
                started = time.perf_counter()
                for q in workload["questions"]:
                    answer(con, spec, q, precomputed)
                times.append((time.perf_counter() - started) * 1000.0)
            times.sort()
            per_workload[workload["name"]] = {
                "p50": percentile(times, 0.5),
                "p99": percentile(times, 0.99),
                "answers": answers,
            }
        result["variants"][variant] = per_workload
    json.dump(result, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
