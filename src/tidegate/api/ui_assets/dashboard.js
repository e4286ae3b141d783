/* Tidegate dashboard (api.md §14): plain browser JavaScript, no build step, no dependencies.
 *
 * Every request goes to this origin with relative URLs (so the page works behind a path prefix), with
 * `Authorization: Bearer <key>` when authentication is on. The key lives in sessionStorage only: it is
 * gone when the tab closes and never reaches localStorage, a cookie or the URL. The live feed reads
 * GET /v1/stream with fetch (EventSource cannot send headers), parses SSE itself and reconnects with
 * Last-Event-ID. All text from the server is put in the page with textContent, never as HTML. */
(function () {
  "use strict";

  var KEY_STORAGE = "tidegate.credential";
  var THEME_STORAGE = "tidegate.theme";
  var THEMES = ["auto", "dark", "light"];
  var OUTCOMES = ["executed", "deduplicated", "suppressed", "rerouted", "throttled", "failed", "grouped",
    "state_changed", "pending_approval", "chain_started", "circuit_open"];
  var COUNTERS = ["dispatched"].concat(OUTCOMES, ["dry_run"]);
  var ALARMS = ["failed", "circuit_open"]; // counters drawn in red once they are above zero
  var FILTERS = ["namespace", "tenant", "action_type", "event_type", "outcome", "action_id", "chain_id", "group_id"];
  var FEED_ROWS = 500;          // rows kept in the feed table
  var PAUSE_BUFFER = 5000;      // events held while paused
  var CHART_SECONDS = 300;      // the chart's window
  var STALL_MS = 50000;         // no byte (not even a ping) for this long: the connection is dead
  var SVG = "http://www.w3.org/2000/svg";

  var state = {
    credential: null, authEnabled: false, running: false, timers: [],
    metrics: { previous: null, samples: [] },
  };
  var feed = {
    controller: null, lastEventId: null, attempt: 0, retryTimer: null, countdown: null, watchdog: null,
    lastByteAt: 0, paused: false, buffer: [], overflow: 0, received: 0, halted: false,
  };

  // ---- small DOM helpers -------------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function cell(row, text, className) {
    var td = el("td", className, text);
    row.appendChild(td);
    return td;
  }

  function badge(text, className) { return el("span", "badge " + (className || "tone-info"), text); }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function emptyRow(tbody, columns, text) {
    var row = el("tr");
    var td = cell(row, text, "empty");
    td.colSpan = columns;
    tbody.appendChild(row);
  }

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function clock(date) { return pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds()); }

  /** A timestamp as local time; the full UTC value goes in the title. */
  function timeCell(row, iso) {
    var td = cell(row, "");
    if (!iso) { td.textContent = "—"; return td; }
    var date = new Date(iso);
    var sameDay = date.toDateString() === new Date().toDateString();
    td.textContent = sameDay ? clock(date) : date.toLocaleDateString() + " " + clock(date);
    td.title = iso;
    td.className = "mono";
    return td;
  }

  function relative(iso) {
    var seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    var magnitude = Math.abs(seconds);
    var text = magnitude < 90 ? magnitude + " s" : magnitude < 5400 ? Math.round(magnitude / 60) + " min"
      : Math.round(magnitude / 3600) + " h";
    return seconds >= 0 ? "in " + text : text + " ago";
  }

  function shortId(id) { return id && id.length > 13 ? "…" + id.slice(-12) : (id || ""); }

  function scope(item) { return (item.tenant || "?") + " / " + (item.namespace || "?"); }

  function notice(text, kind) {
    var box = $("notice");
    box.textContent = text;
    box.dataset.kind = kind || "info";
    box.hidden = false;
    clearTimeout(notice.timer);
    notice.timer = setTimeout(function () { box.hidden = true; }, kind === "error" ? 15000 : 6000);
  }

  function setPill(id, text, pillState) {
    var pill = $(id);
    if (pill.textContent === text && pill.dataset.state === pillState) { return; }
    pill.textContent = text;
    pill.dataset.state = pillState;
    updateTitle();
  }

  var pendingApprovals = 0;
  /** The tab title says what matters in a background tab: approvals waiting, a stream that is not live. */
  function updateTitle() {
    var live = $("stream-pill").dataset.state === "ok" || !state.running;
    document.title = (pendingApprovals ? "(" + pendingApprovals + " pending) " : "") + (live ? "" : "⚠ ") + "Tidegate dashboard";
  }

  // ---- the API -----------------------------------------------------------------------------------

  function headers(extra) {
    var result = { "Accept": "application/json" };
    if (state.authEnabled && state.credential) { result.Authorization = "Bearer " + state.credential; }
    Object.keys(extra || {}).forEach(function (name) { result[name] = extra[name]; });
    return result;
  }

  /** One request; resolves to {status, data, error} and never rejects (status 0: no answer). */
  function api(path, options) {
    options = options || {};
    var init = { method: options.method || "GET", headers: headers(), cache: "no-store" };
    if (options.body !== undefined) {
      init.body = JSON.stringify(options.body);
      init.headers["Content-Type"] = "application/json";
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (ignored) { data = null; }
        var error = response.ok ? null : (data && data.message ? data : { code: "http_" + response.status, message: "HTTP " + response.status });
        if (response.status === 401 && options.protected !== false) { signedOut(error.message); }
        return { status: response.status, data: data, error: error, response: response };
      });
    }, function (failure) {
      return { status: 0, data: null, error: { code: "network", message: "no answer from the server (" + failure.message + ")" } };
    });
  }

  function describe(result) { return result.error ? result.error.message + " (" + result.error.code + ")" : ""; }

  // ---- authentication ----------------------------------------------------------------------------

  /** Find out whether authentication is on (a protected GET without credentials answers 401). */
  function start() {
    state.credential = sessionStorage.getItem(KEY_STORAGE);
    state.authEnabled = false;
    api("v1/rules", { protected: false }).then(function (probe) {
      if (probe.status === 0) {
        setPill("health-pill", "server unreachable", "bad");
        $("auth-error").textContent = "";
        notice("Cannot reach the server; retrying in 5 s.", "error");
        setTimeout(start, 5000);
        return;
      }
      if (probe.status !== 401) { run(); return; }
      state.authEnabled = true;
      if (state.credential) { verify(state.credential); } else { askForKey(""); }
    });
  }

  function verify(credential) {
    state.credential = credential;
    api("v1/rules", { protected: false }).then(function (result) {
      if (result.status === 401) {
        sessionStorage.removeItem(KEY_STORAGE);
        state.credential = null;
        askForKey("The server rejected this key: " + result.error.message + ".");
        return;
      }
      sessionStorage.setItem(KEY_STORAGE, credential);
      run();
    });
  }

  function askForKey(message) {
    stop();
    $("dashboard").hidden = true;
    $("auth").hidden = false;
    $("sign-out").hidden = true;
    $("session-text").textContent = "";
    $("auth-error").textContent = message;
    $("auth-key").value = "";
    $("auth-key").focus();
    setPill("stream-pill", "stream: signed out", "warn");
  }

  function signedOut(message) {
    if (!state.authEnabled) { return; }
    sessionStorage.removeItem(KEY_STORAGE);
    state.credential = null;
    askForKey("Signed out: the server answered 401 (" + (message || "unauthorized") + "). Enter a key again.");
  }

  function signOut() {
    var credential = state.credential;
    if (credential && credential.split(".").length === 3) {
      api("v1/auth/logout", { method: "POST", protected: false }); // a login token: revoke it too
    }
    sessionStorage.removeItem(KEY_STORAGE);
    state.credential = null;
    askForKey("");
  }

  // ---- running the dashboard ---------------------------------------------------------------------

  function run() {
    stop();
    state.running = true;
    $("auth").hidden = true;
    $("dashboard").hidden = false;
    $("sign-out").hidden = !state.authEnabled;
    $("session-text").textContent = state.authEnabled ? "signed in (key kept in this tab only)" : "authentication is off";
    every(1000, pollMetrics);
    every(5000, pollHealth);
    every(10000, refreshAll);
    refreshAll();
    feed.halted = false;
    connect();
  }

  function stop() {
    state.running = false;
    state.timers.forEach(function (timer) { clearTimeout(timer.id); timer.stopped = true; });
    state.timers = [];
    disconnect();
  }

  /** Run `task` (which returns a promise) now and then `ms` after each completion: never overlapping. */
  function every(ms, task) {
    var timer = { id: null, stopped: false };
    function tick() {
      new Promise(function (resolve) { resolve(task()); })
        .catch(function (error) { // a bug must not stop the polling; it is shown and logged
          console.error(error);
          notice("Dashboard error: " + error.message, "error");
        })
        .then(function () { if (!timer.stopped) { timer.id = setTimeout(tick, ms); } });
    }
    state.timers.push(timer);
    tick();
  }

  var pending = {};
  /** Coalesce refreshes that stream events ask for. */
  function soon(name, task, ms) {
    if (pending[name]) { return; }
    pending[name] = setTimeout(function () { pending[name] = null; if (state.running) { task(); } }, ms || 300);
  }

  function refreshAll() {
    return Promise.all([loadRules(), loadApprovals(), loadGroups(), loadChains(), loadBreakers(), loadAudit()]);
  }

  // ---- health and counters -----------------------------------------------------------------------

  function pollHealth() {
    return api("health", { protected: false }).then(function (result) {
      if (result.status === 200) { setPill("health-pill", "health: ok", "ok"); return; }
      if (result.status === 503 && result.data && result.data.failing) {
        setPill("health-pill", "health: " + result.data.failing.join(", ") + " unavailable", "bad");
        return;
      }
      setPill("health-pill", result.status === 0 ? "server unreachable" : "health: HTTP " + result.status, "bad");
    });
  }

  function pollMetrics() {
    return api("metrics", { protected: false }).then(function (result) {
      if (result.status !== 200 || !result.data) {
        $("counters-updated").textContent = "metrics unavailable: " + describe(result);
        return;
      }
      var now = Date.now();
      var previous = state.metrics.previous;
      var deltas = {};
      COUNTERS.forEach(function (name) {
        var value = result.data[name] || 0;
        var before = previous ? previous.counters[name] || 0 : value;
        deltas[name] = value >= before ? value - before : value; // lower than before: the server restarted
      });
      if (previous) {
        var seconds = Math.max(0.001, (now - previous.at) / 1000);
        var rates = {};
        OUTCOMES.forEach(function (name) { rates[name] = deltas[name] / seconds; });
        state.metrics.samples.push({ from: previous.at, to: now, rates: rates });
        var oldest = now - CHART_SECONDS * 1000;
        while (state.metrics.samples.length && state.metrics.samples[0].to < oldest) { state.metrics.samples.shift(); }
      }
      state.metrics.previous = { at: now, counters: result.data };
      renderCounters(result.data, previous ? deltas : null);
      renderChart(now);
      $("counters-updated").textContent = "updated " + clock(new Date(now));
    });
  }

  function renderCounters(counters, deltas) {
    var list = $("counters");
    if (!list.firstChild) {
      COUNTERS.forEach(function (name) {
        var box = el("div", "counter");
        box.id = "counter-" + name;
        box.appendChild(el("dt", null, name.replace(/_/g, " ")));
        var dd = el("dd");
        dd.appendChild(el("span", "value", "0"));
        dd.appendChild(el("span", "delta", ""));
        box.appendChild(dd);
        list.appendChild(box);
      });
    }
    COUNTERS.forEach(function (name) {
      var box = $("counter-" + name);
      box.querySelector(".value").textContent = String(counters[name] || 0);
      var delta = box.querySelector(".delta");
      var change = deltas ? deltas[name] : 0;
      delta.textContent = change ? "+" + change : "";
      delta.className = change ? "delta up" : "delta";
      box.dataset.alarm = ALARMS.indexOf(name) >= 0 && counters[name] > 0 ? "true" : "false";
    });
  }

  function svg(tag, attributes) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) { node.setAttribute(name, String(attributes[name])); });
    return node;
  }

  /** Stacked bars of outcomes per second, one bar per metrics sample, over the last CHART_SECONDS. */
  function renderChart(now) {
    var chart = $("chart");
    var width = Math.max(300, Math.round(chart.clientWidth || 600)), height = 160, top = 12;
    chart.setAttribute("viewBox", "0 0 " + width + " " + height); // one unit per pixel: labels undistorted
    var samples = state.metrics.samples;
    var peak = 0;
    samples.forEach(function (sample) {
      var total = OUTCOMES.reduce(function (sum, name) { return sum + sample.rates[name]; }, 0);
      peak = Math.max(peak, total);
    });
    var scale = niceCeiling(peak);
    clear(chart);
    [0, 0.5, 1].forEach(function (fraction) {
      var y = height - fraction * (height - top);
      chart.appendChild(svg("line", { x1: 0, x2: width, y1: y, y2: y, "class": "gridline" }));
      var label = svg("text", { x: 4, y: Math.max(10, y - 2), "class": "axis-label" });
      label.textContent = formatRate(scale * fraction) + "/s";
      chart.appendChild(label);
    });
    var start = now - CHART_SECONDS * 1000;
    samples.forEach(function (sample) {
      var x = (sample.from - start) / (CHART_SECONDS * 1000) * width;
      var w = Math.max(1, (sample.to - sample.from) / (CHART_SECONDS * 1000) * width - 0.3);
      var y = height;
      OUTCOMES.forEach(function (name) {
        var rate = sample.rates[name];
        if (!rate) { return; }
        var h = rate / scale * (height - top);
        y -= h;
        var bar = svg("rect", { x: x.toFixed(2), y: y.toFixed(2), width: w.toFixed(2), height: h.toFixed(2), "class": "bar oc-" + name });
        var tip = svg("title", {});
        tip.textContent = name + ": " + formatRate(rate) + "/s at " + clock(new Date(sample.to));
        bar.appendChild(tip);
        chart.appendChild(bar);
      });
    });
    var last = samples[samples.length - 1];
    var caption = "Waiting for the first samples…";
    if (last) {
      var parts = OUTCOMES.filter(function (name) { return last.rates[name] > 0; })
        .map(function (name) { return name + " " + formatRate(last.rates[name]); });
      var total = OUTCOMES.reduce(function (sum, name) { return sum + last.rates[name]; }, 0);
      caption = "Last second: " + formatRate(total) + "/s" + (parts.length ? " (" + parts.join(", ") + ")" : "") +
        ". Peak over the window: " + formatRate(peak) + "/s.";
    }
    $("chart-summary").textContent = caption;
  }

  function niceCeiling(value) {
    if (value <= 1) { return 1; }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 5, 10];
    for (var i = 0; i < steps.length; i += 1) { if (value <= steps[i] * power) { return steps[i] * power; } }
    return 10 * power;
  }

  function formatRate(rate) { return rate >= 10 || rate === Math.round(rate) ? String(Math.round(rate)) : rate.toFixed(1); }

  function renderLegend() {
    var legend = $("chart-legend");
    OUTCOMES.forEach(function (name) {
      var item = el("li");
      item.appendChild(el("span", "swatch oc-" + name));
      item.appendChild(document.createTextNode(name.replace(/_/g, " ")));
      legend.appendChild(item);
    });
  }

  // ---- the live feed -----------------------------------------------------------------------------

  function currentFilters() {
    var form = $("filters");
    var query = new URLSearchParams();
    FILTERS.forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) { query.set(name, value); }
    });
    return query;
  }

  function filtersFromLocation() {
    var query = new URLSearchParams(window.location.search);
    var form = $("filters");
    FILTERS.forEach(function (name) { form.elements[name].value = query.get(name) || ""; });
  }

  function applyFilters(event) {
    if (event) { event.preventDefault(); }
    var query = currentFilters().toString();
    history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    feed.lastEventId = null; // a new question: live from now, not a replay under other filters
    emptyFeed();
    feed.halted = false;
    feed.attempt = 0;
    connect();
  }

  function disconnect() {
    clearTimeout(feed.retryTimer);
    clearInterval(feed.countdown);
    clearInterval(feed.watchdog);
    if (feed.controller) { feed.controller.abort(); feed.controller = null; }
  }

  function connect() {
    disconnect();
    if (!state.running) { return; }
    var controller = new AbortController();
    feed.controller = controller;
    var extra = { "Accept": "text/event-stream" };
    if (feed.lastEventId) { extra["Last-Event-ID"] = feed.lastEventId; }
    var query = currentFilters().toString();
    setPill("stream-pill", feed.attempt ? "stream: reconnecting…" : "stream: connecting…", "warn");
    fetch("v1/stream" + (query ? "?" + query : ""), { headers: headers(extra), signal: controller.signal, cache: "no-store" })
      .then(function (response) {
        if (!response.ok) { return refused(response); }
        feed.attempt = 0;
        streamStatus();
        return read(response, controller);
      })
      .then(function (ended) {
        if (ended && feed.controller === controller) { retry("the server ended the stream"); }
      }, function (failure) {
        if (controller.signal.aborted && feed.controller !== controller) { return; } // we closed it
        if (feed.controller === controller) { retry("connection lost (" + failure.message + ")"); }
      });
  }

  /** A non-200 answer to the stream request: some are worth retrying, some need the user. */
  function refused(response) {
    return response.text().then(function (text) {
      var body = null;
      try { body = JSON.parse(text); } catch (ignored) { body = null; }
      var message = body && body.message ? body.message + " (" + body.code + ")" : "HTTP " + response.status;
      if (response.status === 401) { signedOut(body && body.message); return false; }
      if (response.status === 400 || response.status === 403) {
        feed.halted = true;
        setPill("stream-pill", "stream: refused", "bad");
        $("feed-status").textContent = "The stream was refused: " + message + ". Change the filters and apply them again.";
        return false;
      }
      var after = Number(response.headers.get("Retry-After"));
      retry(message, after > 0 ? after * 1000 : undefined);
      return false;
    });
  }

  /** Read SSE frames until the stream ends (resolves true) or fails (rejects). */
  function read(response, controller) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder("utf-8");
    var buffer = "";
    feed.lastByteAt = Date.now();
    feed.watchdog = setInterval(function () {
      if (Date.now() - feed.lastByteAt > STALL_MS && feed.controller === controller) {
        controller.abort();
        retry("no data or keep-alive for " + Math.round(STALL_MS / 1000) + " s");
      }
    }, 5000);
    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) { return true; }
        feed.lastByteAt = Date.now();
        buffer += decoder.decode(chunk.value, { stream: true }).replace(/\r\n?/g, "\n");
        var end = buffer.indexOf("\n\n");
        while (end >= 0) {
          frame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf("\n\n");
        }
        return pump();
      });
    }
    return pump();
  }

  /** One SSE frame: comments are keep-alives, `lagged` is a gap, anything else an event. */
  function frame(text) {
    var fields = { event: "message", id: null, data: [] };
    text.split("\n").forEach(function (line) {
      if (!line || line.charAt(0) === ":") { return; }
      var colon = line.indexOf(":");
      var name = colon < 0 ? line : line.slice(0, colon);
      var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (name === "data") { fields.data.push(value); } else if (name === "event" || name === "id") { fields[name] = value; }
    });
    if (!fields.data.length) { return; } // a ping
    var data;
    try { data = JSON.parse(fields.data.join("\n")); } catch (ignored) { return; }
    if (fields.event === "lagged") { deliver({ lagged: data }); return; }
    if (fields.id) { feed.lastEventId = fields.id; }
    deliver(data);
  }

  function retry(reason, delay) {
    disconnect();
    if (!state.running || feed.halted) { return; }
    var wait = delay !== undefined ? delay : Math.min(30000, 1000 * Math.pow(2, feed.attempt)) + Math.floor(Math.random() * 250);
    feed.attempt += 1;
    var due = Date.now() + wait;
    setPill("stream-pill", "stream: reconnecting", "warn"); // the countdown stays out of the live region
    function show() {
      var left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      $("feed-status").textContent = "Disconnected: " + reason + ". Reconnecting in " + left + " s" +
        (feed.lastEventId ? ", resuming after the last event received." : ".");
    }
    show();
    feed.countdown = setInterval(show, 1000);
    feed.retryTimer = setTimeout(connect, wait);
  }

  function streamStatus() {
    if (!feed.controller) { return; }
    var filters = currentFilters().toString();
    if (feed.paused) {
      setPill("stream-pill", "stream: paused", "warn");
      $("feed-status").textContent = "Paused: " + feed.buffer.length + " new event" + (feed.buffer.length === 1 ? "" : "s") +
        " waiting" + (feed.overflow ? " (" + feed.overflow + " more dropped)" : "") + ". Resume to show them.";
      return;
    }
    setPill("stream-pill", "stream: live", "ok");
    $("feed-status").textContent = "Live" + (filters ? " with filters " + decodeURIComponent(filters).replace(/&/g, ", ") : ", no filters") +
      ". " + feed.received + " event" + (feed.received === 1 ? "" : "s") + " received.";
  }

  function deliver(item) {
    if (!item.lagged) {
      feed.received += 1;
      react(item);
    }
    if (feed.paused) {
      if (feed.buffer.length >= PAUSE_BUFFER) { feed.buffer.shift(); feed.overflow += 1; }
      feed.buffer.push(item);
    } else {
      render(item);
    }
    streamStatus();
  }

  /** Stream events say which panels changed: refresh those right away instead of at the next poll. */
  function react(event) {
    var type = event.type || "";
    if (type.indexOf("approval_") === 0) { soon("approvals", loadApprovals); }
    if (type.indexOf("group_") === 0) { soon("groups", loadGroups); }
    if (type.indexOf("chain_") === 0) { soon("chains", loadChains); }
    if (type === "action_dispatched") {
      soon("audit", loadAudit, 1000);
      var category = outcomeOf(event);
      if (category === "pending_approval") { soon("approvals", loadApprovals); }
      if (category === "grouped") { soon("groups", loadGroups); }
      if (category === "chain_started") { soon("chains", loadChains); }
    }
  }

  function togglePause() {
    feed.paused = !feed.paused;
    var button = $("feed-pause");
    button.setAttribute("aria-pressed", feed.paused ? "true" : "false");
    button.textContent = feed.paused ? "Resume" : "Pause";
    if (!feed.paused) {
      if (feed.overflow) { render({ lagged: { skipped: feed.overflow, reason: "paused_buffer_full" } }); }
      feed.buffer.forEach(render);
      feed.buffer = [];
      feed.overflow = 0;
    }
    streamStatus();
  }

  function emptyFeed() {
    clear($("feed"));
    feed.buffer = [];
    feed.overflow = 0;
    feed.received = 0;
    streamStatus();
  }

  /** The category of an action_dispatched event: its externally tagged outcome's variant in snake case. */
  function outcomeOf(event) {
    var outcome = event.outcome;
    var variant = typeof outcome === "string" ? outcome : outcome && typeof outcome === "object" ? Object.keys(outcome)[0] : "";
    return (variant || "").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
  }

  function innerOutcome(event) {
    var outcome = event.outcome;
    return outcome && typeof outcome === "object" ? outcome[Object.keys(outcome)[0]] || {} : {};
  }

  /** A one-line summary of what the event says, beyond the columns. */
  function details(event) {
    var o = innerOutcome(event);
    switch (event.type) {
      case "action_dispatched":
        switch (outcomeOf(event)) {
          case "executed": return "response: " + o.status;
          case "suppressed": return "rule " + o.rule;
          case "rerouted": return o.original_provider + " → " + o.new_provider + (o.response ? " (" + o.response.status + ")" : "");
          case "throttled": return "retry after " + (o.retry_after ? o.retry_after.secs : "?") + " s";
          case "failed": return o.code + ": " + o.message + " (" + o.attempts + " attempt" + (o.attempts === 1 ? "" : "s") + ")";
          case "grouped": return "group of " + o.group_size + ", notify " + (o.notify_at ? relative(o.notify_at) : "?");
          case "state_changed": return o.fingerprint + ": " + o.previous_state + " → " + o.new_state;
          case "pending_approval": return "approval " + shortId(o.approval_id) + ", expires " + relative(o.expires_at);
          case "chain_started": return o.chain_name + " (" + o.total_steps + " steps), first: " + o.first_step;
          case "circuit_open": return o.provider + " open; fallbacks: " + ((o.fallback_chain || []).join(", ") || "none");
          default: return "";
        }
      case "group_flushed": return "group " + shortId(event.group_id) + ": " + event.event_count + " flushed";
      case "group_event_added": return "group " + shortId(event.group_id) + ": " + event.event_count + " events";
      case "timeout": return event.fingerprint + ": " + event.previous_state + " → " + event.new_state + " (" + event.state_machine + ")";
      case "action_status_changed": return event.fingerprint + ": " + event.previous_status + " → " + event.new_status;
      case "approval_required": return "rule " + event.rule + ", expires " + relative(event.expires_at);
      case "approval_resolved": return "approval " + shortId(event.approval_id) + " " + event.decision;
      case "chain_advanced": return event.chain_name + " step " + event.step_index + " " + event.step_name + ": " + event.step_status + " (attempt " + event.attempt + ")";
      case "chain_step_completed": return "step " + event.step_name + (event.success ? " succeeded" : " failed") + (event.next_step ? ", next: " + event.next_step : "");
      case "chain_completed": return event.status + ": " + (event.execution_path || []).join(" → ");
      default: return "";
    }
  }

  function statusWord(event) {
    switch (event.type) {
      case "action_dispatched": return outcomeOf(event);
      case "approval_resolved": return event.decision;
      case "chain_advanced": return event.step_status;
      case "chain_completed": return event.status;
      case "chain_step_completed": return event.success ? "completed" : "failed";
      default: return "";
    }
  }

  var TONES = { approved: "tone-ok", completed: "tone-ok", started: "tone-info", rejected: "tone-bad", failed: "tone-bad",
    expired: "tone-warn", cancelled: "tone-warn", timed_out: "tone-bad", retrying: "tone-warn", skipped: "tone-idle",
    running: "tone-info", pending: "tone-warn", notified: "tone-ok", closed: "tone-ok", open: "tone-bad", half_open: "tone-warn" };

  function tone(word) { return OUTCOMES.indexOf(word) >= 0 ? "oc-" + word : TONES[word] || "tone-info"; }

  function render(item) {
    var tbody = $("feed");
    var row = el("tr", "fresh");
    if (item.lagged) {
      row.className = "lagged";
      var lag = item.lagged;
      var text = lag.reason === "replay_window_exceeded" ? "Gap: the last event seen has left the replay window; showing every retained event."
        : lag.reason === "paused_buffer_full" ? lag.skipped + " events were dropped while paused (buffer full)."
        : "Lagged: the server skipped " + lag.skipped + " event" + (lag.skipped === 1 ? "" : "s") + " this tab was too slow for.";
      timeCell(row, new Date().toISOString());
      cell(row, "lagged");
      var td = cell(row, text);
      td.colSpan = 6;
    } else {
      row.dataset.eventId = item.id || "";
      row.dataset.actionId = item.action_id || "";
      timeCell(row, item.timestamp);
      cell(row, "").appendChild(badge(item.type, "tone-idle"));
      var word = statusWord(item);
      var status = cell(row, "");
      if (word) { status.appendChild(badge(word, tone(word))); }
      cell(row, scope(item));
      cell(row, item.action_type || "");
      cell(row, item.provider || "");
      var id = cell(row, shortId(item.action_id), "mono");
      id.title = item.action_id || "";
      var more = cell(row, "", "details");
      more.appendChild(document.createTextNode(details(item) + " "));
      var raw = el("details");
      raw.appendChild(el("summary", null, "json"));
      raw.appendChild(el("pre", "mono", JSON.stringify(item, null, 2)));
      more.appendChild(raw);
    }
    tbody.insertBefore(row, tbody.firstChild);
    while (tbody.children.length > FEED_ROWS) { tbody.removeChild(tbody.lastChild); }
  }

  // ---- panels ------------------------------------------------------------------------------------

  var rendered = {};
  /** Load a list into a panel, or say plainly why it is empty or unavailable. */
  function panel(name, path, columns, fill, explain) {
    return api(path).then(function (result) {
      var tbody = $(name);
      var status = $(name + "-status");
      if (result.status !== 200) {
        if (result.status === 401) { return; }
        rendered[name] = null;
        clear(tbody);
        var why = explain && explain(result); // an expected answer (feature off, role): said, not alarmed
        status.textContent = why || "Could not load: " + describe(result);
        status.className = why ? "muted" : "error";
        return;
      }
      var text = JSON.stringify(result.data);
      if (text === rendered[name] && tbody.closest("section").contains(document.activeElement)) {
        return; // nothing changed, and re-rendering would take the keyboard focus away
      }
      rendered[name] = text;
      status.className = "muted";
      status.textContent = "Updated " + clock(new Date()) + ".";
      var focused = tbody.contains(document.activeElement) ? document.activeElement.getAttribute("aria-label") : null;
      clear(tbody);
      fill(tbody, result.data, status);
      if (!tbody.firstChild) { emptyRow(tbody, columns, "Nothing here right now."); }
      if (focused) { // the same control in the new rows takes the focus back
        var again = Array.prototype.find.call(tbody.querySelectorAll("[aria-label]"), function (node) {
          return node.getAttribute("aria-label") === focused;
        });
        if (again) { again.focus(); }
      }
    });
  }

  function button(text, className, label, onClick) {
    var node = el("button", className, text);
    node.type = "button";
    node.setAttribute("aria-label", label);
    node.addEventListener("click", onClick);
    return node;
  }

  function segment(value) { return encodeURIComponent(value); }

  function loadRules() {
    return panel("rules", "v1/rules", 6, function (tbody, data) {
      $("rules-count").textContent = data.rules.length + " rules, " + data.rules.filter(function (r) { return r.enabled; }).length + " enabled";
      data.rules.forEach(function (rule) {
        var row = el("tr");
        row.dataset.rule = rule.name;
        var toggle = el("input");
        toggle.type = "checkbox";
        toggle.checked = rule.enabled;
        toggle.setAttribute("aria-label", "Enable rule " + rule.name);
        toggle.addEventListener("change", function () { setRule(rule.name, toggle); });
        var label = el("label", "switch");
        label.appendChild(toggle);
        label.appendChild(el("span", null, rule.enabled ? "on" : "off"));
        cell(row, "").appendChild(label);
        cell(row, rule.name, "mono");
        cell(row, rule.priority);
        cell(row, "").appendChild(badge(rule.action, "tone-idle"));
        cell(row, rule.source || "");
        cell(row, rule.description || "", "details");
        tbody.appendChild(row);
      });
    });
  }

  function setRule(name, toggle) {
    var enabled = toggle.checked;
    toggle.setAttribute("aria-busy", "true"); // not disabled: that would take the keyboard focus away
    api("v1/rules/" + segment(name) + "/enabled", { method: "PUT", body: { enabled: enabled } }).then(function (result) {
      toggle.removeAttribute("aria-busy");
      if (result.status === 200) {
        toggle.nextSibling.textContent = result.data.enabled ? "on" : "off";
        notice("Rule " + name + " " + (result.data.enabled ? "enabled" : "disabled") + ".", "ok");
        loadRules();
      } else {
        toggle.checked = !enabled;
        notice("Could not change rule " + name + ": " + describe(result), "error");
      }
    });
  }

  function reloadRules() {
    api("v1/rules/reload", { method: "POST" }).then(function (result) {
      if (result.status !== 200) { notice("Reload failed: " + describe(result), "error"); return; }
      var report = result.data;
      if (report.applied) {
        notice("Rules reloaded: " + report.loaded + " rules in force.", "ok");
      } else {
        notice("Reload refused; the previous rules stay in force. " + report.errors.map(function (e) { return e.file + ": " + e.message; }).join("; "), "error");
      }
      loadRules();
    });
  }

  function loadApprovals() {
    return panel("approvals", "v1/approvals?status=pending&limit=100", 6, function (tbody, data, status) {
      $("approvals-count").textContent = data.total + " pending";
      pendingApprovals = data.total;
      updateTitle();
      if (!state.authEnabled) { // security.md D18: every request is the anonymous admin
        status.textContent = "Authentication is off: anyone who can reach this server can decide, and decisions " +
          "are recorded as made by anonymous. Updated " + clock(new Date()) + ".";
      }
      data.approvals.forEach(function (approval) {
        var row = el("tr");
        row.dataset.approval = approval.approval_id;
        timeCell(row, approval.created_at);
        cell(row, scope(approval));
        cell(row, approval.action_type + " via " + approval.provider);
        var rule = cell(row, approval.rule + (approval.message ? ": " + approval.message : ""), "details");
        rule.title = "approval " + approval.approval_id + ", action " + approval.action_id;
        var expires = cell(row, relative(approval.expires_at));
        expires.title = approval.expires_at;
        var actions = cell(row, "");
        var what = approval.action_type + " for " + scope(approval);
        [["approve", "Approve"], ["reject", "Reject"]].forEach(function (pair) {
          actions.appendChild(button(pair[1], pair[0], pair[1] + " " + what, function () { decide(approval, pair[0]); }));
          actions.appendChild(document.createTextNode(" "));
        });
        tbody.appendChild(row);
      });
    });
  }

  function decide(approval, decision) {
    var question = (decision === "approve" ? "Approve" : "Reject") + " " + approval.action_type + " on " + approval.provider +
      " for " + scope(approval) + "?\nRule: " + approval.rule + (approval.message ? "\n" + approval.message : "");
    if (!window.confirm(question)) { return; }
    var path = "v1/approvals/" + segment(approval.namespace) + "/" + segment(approval.tenant) + "/" + segment(approval.approval_id) + "/" + decision;
    api(path, { method: "POST" }).then(function (result) {
      if (result.status === 200) {
        var outcome = result.data.outcome ? ", outcome: " + result.data.outcome.outcome : "";
        notice("Approval " + shortId(approval.approval_id) + " " + result.data.status + " by " + result.data.decided_by + outcome + ".", "ok");
      } else {
        notice("Could not " + decision + ": " + describe(result), "error");
      }
      loadApprovals();
    });
  }

  function loadGroups() {
    return panel("groups", "v1/groups?limit=100", 7, function (tbody, data) {
      $("groups-count").textContent = data.total + " active";
      data.groups.forEach(function (group) {
        var row = el("tr");
        cell(row, "").appendChild(badge(group.state, tone(group.state)));
        cell(row, scope(group));
        cell(row, group.event_count);
        cell(row, Object.keys(group.labels || {}).map(function (k) { return k + "=" + group.labels[k]; }).join(", "), "details");
        var at = timeCell(row, group.notify_at);
        if (group.notify_at && group.state === "pending") { at.textContent += " (" + relative(group.notify_at) + ")"; }
        var key = cell(row, shortId(group.group_key), "mono");
        key.title = group.group_key;
        cell(row, "").appendChild(button("Flush now", "danger", "Flush group " + group.group_key + " now", function () {
          if (!window.confirm("Flush this group of " + group.event_count + " events now and close it?")) { return; }
          api("v1/groups/" + segment(group.group_key), { method: "DELETE" }).then(function (result) {
            notice(result.status === 200 ? "Group " + result.data.status + " (" + result.data.event_count + " events)." : "Flush failed: " + describe(result),
              result.status === 200 ? "ok" : "error");
            loadGroups();
          });
        }));
        tbody.appendChild(row);
      });
    });
  }

  function loadChains() {
    return panel("chains", "v1/chains?limit=100", 7, function (tbody, data) {
      $("chains-count").textContent = data.total + " known, " + data.chains.filter(function (c) { return c.status === "running"; }).length + " running";
      data.chains.forEach(function (chain) {
        var row = el("tr");
        cell(row, "").appendChild(badge(chain.status, tone(chain.status)));
        var name = cell(row, chain.chain_name);
        name.title = "chain " + chain.chain_id;
        cell(row, scope(chain));
        cell(row, chain.current_step === null ? "—" : (chain.current_step_index + 1) + "/" + chain.total_steps + " " + chain.current_step);
        timeCell(row, chain.started_at);
        timeCell(row, chain.updated_at);
        var actions = cell(row, "");
        if (chain.status === "running") {
          actions.appendChild(button("Cancel", "danger", "Cancel chain " + chain.chain_name + " " + chain.chain_id, function () {
            if (!window.confirm("Cancel chain " + chain.chain_name + " for " + scope(chain) + "?")) { return; }
            api("v1/chains/" + segment(chain.chain_id) + "/cancel", { method: "POST", body: { reason: "cancelled from the dashboard" } })
              .then(function (result) {
                notice(result.status === 200 ? "Chain cancelled." : "Cancel failed: " + describe(result), result.status === 200 ? "ok" : "error");
                loadChains();
              });
          }));
        }
        tbody.appendChild(row);
      });
    }, function (result) {
      if (result.status === 404) {
        $("chains-count").textContent = "";
        return "Chains are unavailable on this server (GET /v1/chains answered 404).";
      }
      return null;
    });
  }

  function loadBreakers() {
    return panel("breakers", "admin/circuit-breakers", 6, function (tbody, data) {
      data.circuit_breakers.forEach(function (breaker) {
        var row = el("tr");
        row.dataset.provider = breaker.provider;
        cell(row, "").appendChild(badge(breaker.state, breaker.state === "closed" ? "tone-ok" : tone(breaker.state)));
        cell(row, breaker.provider, "mono");
        cell(row, breaker.consecutive_failures + " / " + breaker.failure_threshold);
        cell(row, breaker.fallback_provider || "none");
        cell(row, breaker.forced ? "yes (until reset)" : "no");
        var actions = cell(row, "");
        if (!breaker.forced) { // a forced breaker is already open until reset: tripping again changes nothing
          actions.appendChild(button("Trip", "danger", "Trip circuit breaker " + breaker.provider, function () { changeBreaker(breaker, "trip"); }));
          actions.appendChild(document.createTextNode(" "));
        }
        if (breaker.forced || breaker.state !== "closed" || breaker.consecutive_failures > 0) {
          actions.appendChild(button("Reset", null, "Reset circuit breaker " + breaker.provider, function () { changeBreaker(breaker, "reset"); }));
        }
        tbody.appendChild(row);
      });
    }, function (result) {
      if (result.status === 404) { return "Circuit breakers are disabled in this server's configuration."; }
      if (result.status === 403) { return "This key's role cannot see circuit breakers (they need the manage permission)."; }
      return null;
    });
  }

  /** Trip (force open until reset) or reset (close, clear counters) a breaker, cluster-wide (api.md §11). */
  function changeBreaker(breaker, change) {
    var name = breaker.provider;
    var instead = breaker.fallback_provider ? "go to its fallback " + breaker.fallback_provider : "fail with circuit_open";
    var question = change === "trip"
      ? "Trip the circuit breaker for " + name + "?\nIt opens on every instance and stays open until someone resets it; " +
        "actions for " + name + " will " + instead + "."
      : "Reset the circuit breaker for " + name + "?\nIt closes on every instance and its failure count is cleared; " +
        "actions go to " + name + " again at once.";
    if (!window.confirm(question)) { return; }
    api("admin/circuit-breakers/" + segment(name) + "/" + change, { method: "POST" }).then(function (result) {
      if (result.status === 200) {
        notice("Circuit breaker " + name + (change === "trip" ? " tripped: open until reset." : " reset: closed."), "ok");
      } else if (result.status === 403) {
        notice("Not allowed to " + change + " the circuit breaker for " + name + ": " + result.error.message +
          ". Tripping and resetting need the manage permission (admin or operator).", "error");
      } else {
        notice("Could not " + change + " the circuit breaker for " + name + ": " + describe(result), "error");
      }
      loadBreakers();
    });
  }

  function loadAudit() {
    return panel("audit", "v1/audit?limit=25", 8, function (tbody, data) {
      data.records.forEach(function (record) {
        var row = el("tr");
        timeCell(row, record.completed_at);
        cell(row, "").appendChild(badge(record.outcome, tone(record.outcome)));
        cell(row, scope(record));
        cell(row, record.action_type);
        cell(row, record.provider);
        cell(row, record.matched_rule || "—");
        cell(row, record.caller_id);
        cell(row, record.duration_ms + " ms");
        row.title = "action " + record.action_id;
        tbody.appendChild(row);
      });
    }, function (result) {
      if (result.status === 404) { return "Audit is disabled in this server's configuration."; }
      return null;
    });
  }

  // ---- theme -------------------------------------------------------------------------------------

  function applyTheme(theme) {
    if (theme === "auto") { delete document.documentElement.dataset.theme; } else { document.documentElement.dataset.theme = theme; }
    $("theme").textContent = "theme: " + theme;
  }

  function cycleTheme() {
    var current = sessionStorage.getItem(THEME_STORAGE) || "auto";
    var next = THEMES[(THEMES.indexOf(current) + 1) % THEMES.length];
    sessionStorage.setItem(THEME_STORAGE, next);
    applyTheme(next);
  }

  // ---- wiring ------------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    renderLegend();
    applyTheme(sessionStorage.getItem(THEME_STORAGE) || "auto");
    $("theme").addEventListener("click", cycleTheme);
    filtersFromLocation();
    $("auth-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var key = $("auth-key").value.trim();
      if (!key) { $("auth-error").textContent = "Enter a key first."; return; }
      $("auth-error").textContent = "Checking…";
      verify(key);
    });
    $("sign-out").addEventListener("click", signOut);
    $("filters").addEventListener("submit", applyFilters);
    $("filters-clear").addEventListener("click", function () {
      FILTERS.forEach(function (name) { $("filters").elements[name].value = ""; });
      applyFilters();
    });
    $("feed-pause").addEventListener("click", togglePause);
    $("feed-empty").addEventListener("click", emptyFeed);
    $("rules-reload").addEventListener("click", reloadRules);
    start();
  });
}());
