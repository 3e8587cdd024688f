// The chat-sentiment dashboard: polls two small JSON documents and draws them as plain SVG. No framework, no
// build step, nothing fetched from anywhere but this host (the Content-Security-Policy allows only 'self').
//
// data/snapshot.json  per source and channel, the newest per-minute windows, the one in progress included
//                     (chat_sentiment.snapshot)
// data/health.json    the job's last batches, rates, offsets behind Kafka, dead letters per minute, the lexicon
//                     fallback and what it scored per minute; 204 until the job writes it ("no health data")
// Both come through httpd from the job host's read-only feed. "now" is the web host's clock (the Date header of
// the last answer), so a browser with a wrong clock still judges staleness and time ranges right.
"use strict";

(function () {
  const POLL_MS = 5000;
  // The job finishes a batch every few seconds while chat flows; a minute without one means it is stopped or stuck.
  const STALE_MS = 60000;
  const SVG_NS = "http://www.w3.org/2000/svg";

  const state = {
    snapshot: null,
    health: null,
    feedError: "",
    clockOffset: 0, // server clock minus browser clock, ms
    lastSnapshotStamp: null,
    pickedMinute: "", // "" = follow the newest closed minute
    renders: 0,
  };

  const $ = (id) => document.getElementById(id);

  function serverNow() {
    return Date.now() + state.clockOffset;
  }

  function text(el, value) {
    el.textContent = value;
  }

  function signed(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "-";
    const fixed = Number(value).toFixed(digits);
    return value > 0 ? "+" + fixed : fixed;
  }

  function hhmm(iso) {
    return iso ? iso.slice(11, 16) : "-";
  }

  function minuteLabel(iso) {
    return iso ? iso.slice(0, 10) + " " + iso.slice(11, 16) : "-";
  }

  function ago(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.round(s / 60) + " min ago";
    return Math.round(s / 3600) + " h ago";
  }

  function keyOf(channel) {
    return channel.source + "/" + channel.channel;
  }

  // ---- fetching
  async function fetchJson(url) {
    const response = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    const date = Date.parse(response.headers.get("Date") || "");
    if (!Number.isNaN(date)) state.clockOffset = date - Date.now();
    if (response.status === 204) return null;
    if (!response.ok) throw new Error(url + ": HTTP " + response.status);
    return response.json();
  }

  async function poll() {
    const [snapshot, health] = await Promise.allSettled([
      fetchJson("data/snapshot.json"),
      fetchJson("data/health.json"),
    ]);
    state.feedError = "";
    if (snapshot.status === "fulfilled") {
      state.snapshot = snapshot.value;
    } else {
      state.feedError = String(snapshot.reason && snapshot.reason.message ? snapshot.reason.message : snapshot.reason);
    }
    state.health = health.status === "fulfilled" ? health.value : state.health;
    if (health.status !== "fulfilled" && !state.feedError) state.feedError = String(health.reason);
    render();
  }

  // ---- selection
  function visibleChannels() {
    const source = $("source-filter").value;
    const channels = (state.snapshot && state.snapshot.channels) || [];
    return channels.filter((c) => !source || c.source === source);
  }

  // A minute is closed once it has ended (by the web server's clock). The job keeps its minute up to date batch by
  // batch, and corrects a past one when a late line arrives, so the minute in progress is shown, marked as such.
  function isClosed(w) {
    return Date.parse(w.window_end) <= serverNow();
  }

  function lastClosed(windows) {
    for (let i = windows.length - 1; i >= 0; i -= 1) if (isClosed(windows[i])) return windows[i];
    return null;
  }

  function windowsInRange(channel) {
    const from = serverNow() - Number($("range-pick").value) * 60000;
    return (channel.windows || []).filter((w) => Date.parse(w.window_end) >= from);
  }

  function syncSelect(select, options, fallback) {
    const current = select.value;
    const wanted = options.map((o) => o.value).join("\n");
    if (select.dataset.options !== wanted) {
      select.replaceChildren(...options.map((o) => new Option(o.label, o.value)));
      select.dataset.options = wanted;
    }
    const values = options.map((o) => o.value);
    select.value = values.includes(current) ? current : fallback;
    return select.value;
  }

  // ---- rendering
  function render() {
    const channels = visibleChannels();
    renderStatus(channels);
    const key = syncSelect($("channel-pick"),
      channels.map((c) => ({ value: keyOf(c), label: c.channel + " (" + c.source + ")" })),
      channels.length ? keyOf(channels[0]) : "");
    const channel = channels.find((c) => keyOf(c) === key) || null;
    renderOverview(channels, key);
    const windows = channel ? windowsInRange(channel) : [];
    const closed = lastClosed(windows);
    const newest = closed ? closed.window_start : "";
    const minuteOptions = windows.slice().reverse().map((w) => ({
      value: w.window_start,
      label: minuteLabel(w.window_start) +
        (w.window_start === newest ? " (newest closed)" : isClosed(w) ? "" : " (in progress)"),
    }));
    minuteOptions.unshift({ value: "", label: "newest closed" });
    $("minute-pick").value = state.pickedMinute;
    state.pickedMinute = syncSelect($("minute-pick"), minuteOptions, "");
    const shown = windows.find((w) => w.window_start === (state.pickedMinute || newest)) || null;
    renderChart(channel, windows, newest, shown);
    renderMinute(channel, shown);
    renderHealth();
    state.renders += 1;
    document.body.dataset.renders = String(state.renders);
    document.body.dataset.newest = newestOverall();
  }

  function newestOverall() {
    let newest = "";
    for (const c of (state.snapshot && state.snapshot.channels) || []) {
      const last = lastClosed(c.windows || []);
      if (last && last.window_start > newest) newest = last.window_start;
    }
    return newest;
  }

  function renderStatus(channels) {
    const status = $("status");
    status.classList.toggle("error", Boolean(state.feedError));
    if (state.feedError) {
      text(status, "cannot read the feed: " + state.feedError);
    } else if (!state.snapshot) {
      text(status, "no snapshot yet: the job has not closed a minute");
    } else if (!channels.length) {
      text(status, "no channel of this source has a closed minute yet");
    } else {
      text(status, channels.length + " channel(s); newest closed minute " + minuteLabel(newestOverall()) + " UTC");
    }
    const updated = state.snapshot && state.snapshot.updated_at;
    text($("updated"), updated ? "snapshot written " + updated.replace("T", " ").replace("Z", " UTC") : "-");
  }

  function renderOverview(channels, selectedKey) {
    const body = $("channels").tBodies[0];
    body.replaceChildren(...channels.map((c) => {
      const last = lastClosed(c.windows || []);
      const row = document.createElement("tr");
      row.dataset.source = c.source;
      row.dataset.channel = c.channel;
      row.classList.toggle("selected", keyOf(c) === selectedKey);
      const cells = [c.source, c.channel, last ? minuteLabel(last.window_start) : "-",
        last ? String(last.messages) : "-", last ? signed(last.mean_score, 3) : "-"];
      for (const [i, value] of cells.entries()) {
        const td = document.createElement("td");
        if (i >= 3) td.className = "num";
        td.textContent = value;
        row.appendChild(td);
      }
      row.addEventListener("click", () => {
        $("channel-pick").value = keyOf(c);
        state.pickedMinute = "";
        render();
      });
      return row;
    }));
  }

  function svg(name, attrs, parent) {
    const el = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (parent) parent.appendChild(el);
    return el;
  }

  function renderChart(channel, windows, newest, shown) {
    const chart = $("chart");
    text($("chart-title"), channel ? "Mood of " + channel.channel + " (" + channel.source + ")" : "Mood");
    const W = 900, H = 280, left = 40, right = 10, meanTop = 10, meanH = 100, barTop = 140, barH = 110;
    const root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": "mean score and labels per minute" });
    const rangeMs = Number($("range-pick").value) * 60000;
    const to = serverNow(), from = to - rangeMs;
    const plotW = W - left - right;
    const x = (iso) => left + ((Date.parse(iso) - from) / rangeMs) * plotW;
    const slot = Math.max(1, plotW / (rangeMs / 60000) - 1);
    const meanY = (v) => meanTop + ((1 - v) / 2) * meanH;
    // axes and labels
    svg("line", { x1: left, x2: W - right, y1: meanY(0), y2: meanY(0), class: "zero" }, root);
    svg("line", { x1: left, x2: W - right, y1: barTop + barH, y2: barTop + barH, class: "axis" }, root);
    for (const [v, label] of [[1, "+1"], [0, "0"], [-1, "-1"]]) {
      svg("text", { x: 4, y: meanY(v) + 3 }, root).textContent = label;
    }
    const most = Math.max(1, ...windows.map((w) => w.messages));
    svg("text", { x: 4, y: barTop + 8 }, root).textContent = String(most);
    svg("text", { x: 4, y: barTop + barH }, root).textContent = "0";
    const stamp = rangeMs > 6 * 3600000 ? minuteLabel : hhmm; // a day's range starts and ends at the same hh:mm
    svg("text", { x: left, y: H - 4 }, root).textContent = stamp(new Date(from).toISOString());
    svg("text", { x: W - right, y: H - 4, "text-anchor": "end" }, root).textContent = stamp(new Date(to).toISOString());
    // stacked bars: negative at the bottom, neutral, positive on top; their sum is the volume
    for (const w of windows) {
      const group = svg("g", { "data-window-start": w.window_start, class: isClosed(w) ? "closed" : "open" }, root);
      const x0 = x(w.window_start);
      if (shown && w.window_start === shown.window_start) {
        svg("rect", { x: x0 - 1, y: meanTop, width: slot + 2, height: barTop + barH - meanTop, class: "picked-mark" }, group);
      }
      let y = barTop + barH;
      for (const [name, count] of [["neg", w.negative], ["neu", w.neutral], ["pos", w.positive]]) {
        const h = (count / most) * barH;
        y -= h;
        const bar = svg("rect", { x: x0, y: y, width: slot, height: h, class: "bar " + name }, group);
        svg("title", {}, bar).textContent = minuteLabel(w.window_start) + ": " + count + " " + name;
      }
      if (w.window_start === newest) {
        const top = barTop + barH - (w.messages / most) * barH;
        svg("rect", { x: x0 - 1, y: top - 1, width: slot + 2, height: barTop + barH - top + 1, class: "newest-mark" }, group);
      }
      group.addEventListener("click", () => {
        state.pickedMinute = w.window_start;
        render();
      });
    }
    // the mean score as a line, broken where a minute has no window
    let points = [];
    const lines = [];
    let previous = null;
    for (const w of windows) {
      if (w.mean_score === null) continue;
      const start = Date.parse(w.window_start);
      if (previous !== null && start - previous > 60000 * 1.5) {
        lines.push(points);
        points = [];
      }
      points.push([x(w.window_start) + slot / 2, meanY(w.mean_score)]);
      previous = start;
    }
    lines.push(points);
    for (const line of lines) {
      if (line.length > 1) svg("polyline", { points: line.map((p) => p.join(",")).join(" "), class: "mean-line" }, root);
      for (const [px, py] of line) svg("circle", { cx: px, cy: py, r: 2.5, class: "mean-dot" }, root);
    }
    if (!windows.length) {
      svg("text", { x: W / 2 - 80, y: H / 2 }, root).textContent = "no closed minute in this range";
    }
    chart.replaceChildren(root);
  }

  function fillList(list, pairs) {
    list.replaceChildren(...(pairs || []).map(([name, count]) => {
      const li = document.createElement("li");
      li.textContent = name + " " + count;
      return li;
    }));
  }

  function renderMinute(channel, w) {
    const panel = $("minute");
    panel.dataset.channel = channel ? channel.channel : "";
    panel.dataset.source = channel ? channel.source : "";
    panel.dataset.windowStart = w ? w.window_start : "";
    text($("m-title"), w ? minuteLabel(w.window_start) + " UTC, " + channel.channel : "-");
    text($("m-messages"), w ? String(w.messages) : "-");
    text($("m-positive"), w ? String(w.positive) : "-");
    text($("m-neutral"), w ? String(w.neutral) : "-");
    text($("m-negative"), w ? String(w.negative) : "-");
    text($("m-mean"), w ? signed(w.mean_score, 3) : "-");
    fillList($("m-emotes"), w ? w.top_emotes : []);
    fillList($("m-words"), w ? w.top_words : []);
    renderFallback(w);
  }

  function fallbackConfigured() {
    return Boolean(state.health && state.health.fallback);
  }

  // The share of a minute's messages the lexicon scored because the model had no time for them (scored_by counts
  // the messages per scorer; messages stored before the job counted them are in no entry). Shown when the job has a
  // fallback, or when the minute mixes scorers; a lexicon-only or model-only job without one shows nothing.
  function renderFallback(w) {
    const line = $("m-fallback");
    const by = (w && w.scored_by) || {};
    const lexicon = by.lexicon || 0;
    const counted = Object.values(by).reduce((sum, n) => sum + n, 0);
    const mixed = lexicon > 0 && lexicon < counted;
    line.hidden = !w || !(fallbackConfigured() || mixed);
    line.dataset.lexicon = String(lexicon);
    line.dataset.counted = String(counted);
    if (line.hidden) {
      text(line, "");
      return;
    }
    text(line, counted ? "scored by lexicon fallback: " + Math.round((lexicon / counted) * 100) + "% (" + lexicon +
      " of " + counted + " messages)" : "scored by lexicon fallback: not recorded for this minute");
  }

  function renderHealth() {
    const strip = $("health");
    const h = state.health;
    const rate = (q, key) => (q && typeof q[key] === "number" ? q[key].toFixed(1) + " rows/s" : "-");
    if (state.feedError) {
      strip.dataset.state = "stale";
      text($("health-state"), "stale: feed unreachable");
      return;
    }
    if (!h || !h.updated_at) {
      strip.dataset.state = "none";
      text($("health-state"), "no health data");
      for (const id of ["health-last", "health-input", "health-processed", "health-lag", "health-dead"]) text($(id), "-");
      $("health-fallback-item").hidden = true;
      return;
    }
    // The query that reads Kafka: main_query names it ("ingest"); a job from before it was named wrote "messages".
    const messages = (h.queries && h.queries[h.main_query || "messages"]) || null;
    // Stale is judged on when the job last wrote the document (after a batch, or an idle heartbeat if it
    // writes one), so a quiet chat is not a stopped job; "last batch" is when that query last finished.
    const age = serverNow() - Date.parse(h.updated_at);
    const stale = !(age <= STALE_MS);
    strip.dataset.state = stale ? "stale" : "fresh";
    text($("health-state"), stale ? "stale: no report from the job for " + ago(age).replace(" ago", "") : "live");
    const last = Date.parse((messages && messages.finished_at) || "");
    text($("health-last"), Number.isNaN(last) ? "-" : ago(serverNow() - last));
    text($("health-input"), rate(messages, "input_rows_per_second"));
    text($("health-processed"), rate(messages, "processed_rows_per_second"));
    const lag = Object.entries(h.kafka || {}).map(([topic, v]) => topic + " " + (v && v.offsets_behind_latest));
    text($("health-lag"), lag.length ? lag.join(", ") : "-");
    text($("health-dead"), lastMinutes(h.dead_letters_per_minute || []));
    // Messages the lexicon scored because the model ran out of its budget (only when the job has a fallback).
    const fallback = h.fallback_per_minute || [];
    $("health-fallback-item").hidden = !(h.fallback || fallback.length);
    text($("health-fallback"), lastMinutes(fallback) +
      (h.fallback ? ", model budget " + h.fallback.budget_seconds + " s" : ""));
  }

  // Counts per minute of processing time (dead letters, fallback): the last five minutes that had any, or "0".
  function lastMinutes(perMinute) {
    if (!perMinute.length) return "0";
    return perMinute.slice(-5).map((d) => d.count).join(" ") + " (last " + Math.min(5, perMinute.length) + " min)";
  }

  function start() {
    for (const id of ["source-filter", "channel-pick", "range-pick"]) {
      $(id).addEventListener("change", () => {
        state.pickedMinute = "";
        render();
      });
    }
    $("minute-pick").addEventListener("change", () => {
      state.pickedMinute = $("minute-pick").value;
      render();
    });
    $("controls").addEventListener("submit", (event) => event.preventDefault());
    poll();
    setInterval(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
