// The cobalt-mock dashboard: a client of /_mock/* and the public API, fed by /_mock/stream.
// Every value from the server is put in the page as text (textContent / Text nodes), never as markup:
// bodies and MRNs are whatever a client sent.
"use strict";
(() => {
  const TOKEN_KEY = "cobalt-mock-control-token";
  const SHOWN_CHARS = 100000; // of a body, before "Show all"
  const $ = (id) => document.getElementById(id);
  let token = readToken();
  let current = null; // the latest state from the stream
  let selected = null; // what the detail panel shows: {kind: "delivery", ...} or {kind: "request", seq}
  let retryMs = 500;

  function readToken() {
    const match = /(?:^#|&)token=([^&]*)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      history.replaceState(null, "", location.pathname + location.search); // out of the address bar
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  // Elements from data: children are nodes or plain text; attributes are set, never parsed.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else if (value !== null && value !== undefined && value !== false) node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function notice(text, isError) {
    $("notice").textContent = text;
    $("notice").className = isError ? "error" : "";
  }

  function controlHeaders(extra) {
    const headers = Object.assign({}, extra);
    if (token) headers.authorization = "Bearer " + token;
    return headers;
  }

  // One call of the API: the parsed answer, or an Error carrying Cobalt's message.
  async function call(method, path, body, headers) {
    const init = { method, headers: controlHeaders(headers), cache: "no-store" };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
    const response = await fetch(path, init);
    let answer = null;
    try { answer = await response.json(); } catch (e) { answer = null; }
    if (response.status === 401 && path.startsWith("/_mock/")) askForToken("The control token was refused.");
    if (!response.ok) {
      const message = answer && answer.message ? answer.message : response.statusText;
      throw new Error(response.status + ": " + message);
    }
    return answer;
  }

  async function act(label, method, path, body, headers) {
    try {
      const answer = await call(method, path, body, headers);
      notice(label + ": done");
      return answer;
    } catch (error) {
      notice(label + ": " + error.message, true);
      return null;
    }
  }

  // The stream: fetch, not EventSource, so that the token goes in a header rather than the URL.
  async function connect() {
    setStatus("connecting…", "");
    let response;
    try {
      response = await fetch("/_mock/stream", { headers: controlHeaders({ accept: "text/event-stream" }), cache: "no-store" });
    } catch (error) {
      return reconnect();
    }
    if (response.status === 401) {
      setStatus("needs the control token", "down");
      askForToken(token ? "The control token was refused." : "");
      return;
    }
    if (!response.ok || !response.body) {
      let message = response.statusText;
      try { message = (await response.json()).message; } catch (e) { /* not JSON */ }
      setStatus("stream refused: " + message, "down");
      return reconnect();
    }
    $("login").hidden = true;
    setStatus("live", "live");
    retryMs = 500;
    if (!$("behaviours").children.length) loadBehaviours();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          onEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) { /* the connection dropped */ }
    reconnect();
  }

  function reconnect() {
    setStatus("disconnected, reconnecting…", "down");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  }

  function onEvent(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    if (event === "state" && data.length) render(JSON.parse(data.join("\n")));
  }

  function setStatus(text, kind) {
    $("status").textContent = text;
    $("status").className = "pill " + kind;
  }

  function askForToken(message) {
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  async function loadBehaviours() {
    try {
      const answer = await call("GET", "/_mock/behaviours");
      $("behaviours").replaceChildren(...answer.behaviours.map((b) => el("option", { value: b.behaviour }, b.summary)));
    } catch (error) { /* the form works without suggestions */ }
  }

  // Rendering the state

  function render(state) {
    current = state;
    const c = state.counts;
    $("counts").textContent = `${c.jobs} jobs · ${c.pending_jobs} pending · ${c.events} events`;
    const holding = state.holding;
    $("holding").hidden = !holding.all && !holding.access_tokens.length;
    $("holding").textContent = holding.all ? "holding new jobs" : "holding jobs of " + holding.access_tokens.join(", ");
    $("jobs-note").textContent = c.jobs > state.jobs.length ? `newest ${state.jobs.length} of ${c.jobs}` : "";
    $("journal-note").textContent = `newest ${state.journal.length}`;
    renderJobs(state.jobs);
    renderJournal(state.journal);
    renderWebhooks(state.webhooks);
    renderSettings(state.settings);
    if (selected && selected.kind === "delivery") renderVerdict();
  }

  function describeRequest(request) {
    const parts = [];
    if (request.start_date) parts.push(request.start_date === request.end_date ? request.start_date : `${request.start_date} → ${request.end_date}`);
    if (request.mrn !== undefined) parts.push("mrn " + request.mrn);
    if (request.provider_ids) parts.push("providers " + request.provider_ids.join(", "));
    return parts.join(" · ");
  }

  function describeBehaviours(behaviours) {
    return Object.entries(behaviours).map(([name, params]) => {
      const given = Object.entries(params).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      return given.length ? `${name} (${given.join(", ")})` : name;
    }).join("; ");
  }

  function attemptLabel(a) {
    const outcome = a.error === null ? String(a.status_code) : "error";
    const mark = a.signature === "current" || a.signature === "previous" ? "✓" : "✗";
    return `#${a.delivery}.${a.attempt} ${outcome} ${Math.round(a.duration_ms)}ms ${mark}sig`;
  }

  function succeeded(a) {
    return a.status_code !== null && a.status_code >= 200 && a.status_code < 300;
  }

  function isSelected(jobId, a) {
    return selected && selected.kind === "delivery" && selected.jobId === jobId &&
      selected.delivery === a.delivery && selected.attempt === a.attempt && selected.url === a.url;
  }

  function renderJobs(jobs) {
    const rows = jobs.map((job) => {
      const attempts = job.attempts.map((a) => el("button", {
        type: "button",
        class: "attempt " + (succeeded(a) ? "ok" : "bad") + (isSelected(job.job_id, a) ? " selected" : ""),
        title: a.url,
        onclick: () => openDelivery(job.job_id, a),
      }, attemptLabel(a)));
      const actions = [];
      if (["scheduled", "held", "stalled"].includes(job.status)) {
        actions.push(el("button", { type: "button", class: "small", onclick: () => act("Complete " + job.job_id, "POST", `/_mock/jobs/${encodeURIComponent(job.job_id)}/complete?wait=false`) }, "Complete now"));
      }
      if (job.status === "completed" && job.event_id) {
        actions.push(el("button", { type: "button", class: "small", onclick: () => act("Redeliver " + job.job_id, "POST", `/_mock/jobs/${encodeURIComponent(job.job_id)}/redeliver?wait=false`) }, "Redeliver"));
      }
      return el("tr", { "data-job": job.job_id },
        el("td", { class: "mono nowrap" }, job.job_id),
        el("td", {}, el("span", { class: "status " + job.status }, job.status)),
        el("td", {}, job.request.search_by),
        el("td", { class: "mono" }, describeRequest(job.request)),
        el("td", { class: "mono nowrap", title: job.due_at }, job.due_at.slice(11, 23)),
        el("td", {}, describeBehaviours(job.behaviours)),
        el("td", {}, attempts.length ? attempts : el("span", { class: "muted" }, job.status === "completed" ? "no webhook registered" : "—")),
        el("td", {}, actions));
    });
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 8, class: "muted" }, "No jobs yet: start a fetch.")));
    $("jobs").tBodies[0].replaceChildren(...rows);
  }

  function renderJournal(entries) {
    const rows = entries.map((e) => {
      if (e.kind === "delivery") {
        const a = e.attempt;
        return el("tr", { class: "clickable", onclick: () => openDelivery(e.job_id, a) },
          el("td", {}, e.seq), el("td", { class: "mono" }, e.at.slice(11, 23)),
          el("td", { class: "mono" }, "webhook → " + a.url + " (attempt " + a.attempt + ")"),
          el("td", { class: succeeded(a) ? "ok" : "bad" }, a.error === null ? a.status_code : a.error),
          el("td", {}, Math.round(a.duration_ms)), el("td", { class: "mono" }, e.job_id));
      }
      return el("tr", { class: "clickable", onclick: () => openRequest(e.seq) },
        el("td", {}, e.seq), el("td", { class: "mono" }, e.at.slice(11, 23)),
        el("td", { class: "mono" }, e.method + " " + e.path + (e.query ? "?" + e.query : "")),
        el("td", { class: e.status !== null && e.status < 400 ? "ok" : "bad" }, e.status === null ? "…" : e.status),
        el("td", {}, e.duration_ms === null ? "" : Math.round(e.duration_ms)),
        el("td", { class: "mono" }, e.job_id || ""));
    });
    if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "Nothing yet.")));
    $("journal").tBodies[0].replaceChildren(...rows);
  }

  function renderWebhooks(hooks) {
    const items = hooks.map((hook) => el("li", {}, el("span", { class: "mono" }, hook.url),
      el("button", { type: "button", class: "small", onclick: () => act("Remove webhook", "DELETE", `/v1/webhook/${encodeURIComponent(hook.id)}`, undefined, credentials()) }, "Remove")));
    if (!items.length) items.push(el("li", { class: "muted" }, "None registered: webhooks go nowhere."));
    $("webhooks").replaceChildren(...items);
  }

  function renderSettings(settings) {
    const rows = Object.entries(settings).map(([name, value]) =>
      el("tr", {}, el("td", {}, name), el("td", {}, typeof value === "string" ? value : JSON.stringify(value))));
    $("settings").tBodies[0].replaceChildren(...rows);
    const clientId = $("trigger").elements.client_id;
    if (settings.client_id && !clientId.dataset.touched) clientId.value = settings.client_id;
  }

  // The detail panel

  function showDetail(title, ...children) {
    $("detail-title").textContent = title;
    $("detail").replaceChildren(...children);
    $("detail-panel").hidden = false;
  }

  function facts(pairs) {
    return el("dl", { class: "facts" }, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", { class: "mono" }, v)]));
  }

  function pretty(text) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { return text; }
  }

  // A body in a <pre>: the first SHOWN_CHARS characters, and a button for the rest.
  function bodyBlock(text, name) {
    const pre = el("pre", { "data-body": name });
    const block = el("div", {}, pre);
    if (text.length > SHOWN_CHARS) {
      pre.textContent = text.slice(0, SHOWN_CHARS);
      const more = el("button", { type: "button", class: "small", onclick: () => { pre.textContent = text; more.remove(); } },
        `Show all (${text.length.toLocaleString()} characters)`);
      block.append(more);
    } else {
      pre.textContent = text === "" ? "(empty)" : text;
    }
    return block;
  }

  function headerTable(headers) {
    return el("table", { class: "kv" }, el("tbody", {}, Object.entries(headers).map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))));
  }

  const VERDICTS = {
    current: ["verifies with the current secret", "ok"],
    previous: ["verifies with the previous secret (in its grace period)", "warn"],
    invalid: ["verifies with no valid secret: a receiver must reject it", "bad"],
    missing: ["no cobalt-verification header", "bad"],
  };

  function findAttempt(jobId, ref) {
    const job = current && current.jobs.find((j) => j.job_id === jobId);
    return job && job.attempts.find((a) => a.delivery === ref.delivery && a.attempt === ref.attempt && a.url === ref.url);
  }

  function renderVerdict() {
    const a = findAttempt(selected.jobId, selected);
    const node = document.querySelector("#detail [data-verdict]");
    if (a && node) {
      const [text, kind] = VERDICTS[a.signature];
      node.textContent = text;
      node.className = "mono " + kind;
    }
  }

  async function openDelivery(jobId, ref) {
    selected = { kind: "delivery", jobId, delivery: ref.delivery, attempt: ref.attempt, url: ref.url };
    if (current) renderJobs(current.jobs);
    let job;
    try {
      job = (await call("GET", `/_mock/jobs/${encodeURIComponent(jobId)}`)).job;
    } catch (error) {
      showDetail(`Delivery of ${jobId}`, el("p", { class: "error" }, error.message));
      return;
    }
    const a = job.attempts.find((x) => x.delivery === ref.delivery && x.attempt === ref.attempt && x.url === ref.url);
    if (!a) {
      showDetail(`Delivery of ${jobId}`, el("p", { class: "error" }, "That attempt is no longer kept."));
      return;
    }
    const known = findAttempt(jobId, a);
    const [verdict, kind] = VERDICTS[known ? known.signature : "missing"] || ["", ""];
    const outcome = a.error === null ? `${a.status_code}` : `no answer: ${a.error}`;
    const raw = bodyBlock(a.body, "raw");
    raw.hidden = true;
    const formatted = bodyBlock(pretty(a.body), "request");
    const toggle = el("button", { type: "button", class: "small", onclick: () => {
      raw.hidden = !raw.hidden; formatted.hidden = !formatted.hidden;
      toggle.textContent = raw.hidden ? "Exact bytes" : "Pretty-printed";
    } }, "Exact bytes");
    showDetail(`Delivery ${a.delivery}, attempt ${a.attempt} of ${jobId}`,
      facts([["target", a.url], ["started", a.started_at], ["duration", `${a.duration_ms} ms`], ["outcome", outcome]]),
      el("dl", { class: "facts" }, el("dt", {}, "signature"), el("dd", { "data-verdict": "", class: "mono " + kind }, verdict)),
      el("h3", {}, a.error === null ? `Receiver's answer: ${a.status_code}` + (a.response_truncated ? " (first 4 KiB)" : "") : "Receiver's answer: none"),
      bodyBlock(pretty(a.response_body), "response"),
      el("h3", {}, "Request headers"), headerTable(a.headers),
      el("h3", { class: "row" }, `Request body (${a.body.length.toLocaleString()} characters)`, toggle), formatted, raw);
  }

  async function openRequest(seq) {
    selected = { kind: "request", seq };
    if (current) renderJobs(current.jobs);
    let e;
    try {
      e = (await call("GET", `/_mock/requests/${seq}`)).entry;
    } catch (error) {
      showDetail(`Request #${seq}`, el("p", { class: "error" }, error.message));
      return;
    }
    showDetail(`Request #${e.seq}: ${e.method} ${e.path}`,
      facts([["at", e.at], ["query", e.query || "—"], ["status", e.status === null ? "…" : e.status],
        ["duration", e.duration_ms === null ? "" : `${e.duration_ms} ms`], ["job", e.job_id || "—"],
        ["behaviours", e.behaviours.length ? JSON.stringify(e.behaviours) : "—"], ["error", e.error || "—"]]),
      el("h3", {}, "Headers (secrets redacted)"), headerTable(e.headers),
      el("h3", {}, "Body" + (e.body_truncated ? " (first 64 KiB)" : "")), bodyBlock(pretty(e.body), "request"));
  }

  // The forms and buttons

  function credentials() {
    const f = $("trigger").elements;
    return { client_id: f.client_id.value, client_secret: f.client_secret.value, access_token: f.access_token.value };
  }

  function isoDay(offset) {
    const d = new Date(Date.now() + offset * 86400000);
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }

  function showModeFields() {
    const mode = $("trigger").elements.search_by.value;
    for (const label of document.querySelectorAll("#trigger [data-modes]")) {
      label.hidden = !label.dataset.modes.split(" ").includes(mode);
    }
  }

  async function trigger(event) {
    event.preventDefault();
    const f = $("trigger").elements;
    const mode = f.search_by.value;
    const body = { search_by: mode };
    if (mode === "mrn") body.mrn = f.mrn.value;
    else {
      body.start_date = f.start_date.value;
      body.end_date = f.end_date.value;
      if (mode === "provider") body.provider_ids = f.provider_ids.value.split(",").map((s) => s.trim()).filter(Boolean);
    }
    const headers = credentials();
    if (f.scenario.value.trim()) headers["x-cobalt-mock-scenario"] = f.scenario.value.trim();
    const out = $("trigger-result");
    try {
      const answer = await call("POST", "/v1/appointments/fetch", body, headers);
      out.className = "ok";
      out.textContent = "Accepted: " + answer.job_id;
    } catch (error) {
      out.className = "error";
      out.textContent = error.message;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const f = $("trigger").elements;
    f.start_date.value = isoDay(0);
    f.end_date.value = isoDay(6);
    f.client_id.addEventListener("input", () => { f.client_id.dataset.touched = "1"; });
    f.search_by.addEventListener("change", showModeFields);
    showModeFields();
    $("trigger").addEventListener("submit", trigger);
    $("register").addEventListener("submit", (event) => {
      event.preventDefault();
      act("Register webhook", "POST", "/v1/webhook", { webhook_url: $("register").elements.url.value }, credentials());
    });
    $("hold").addEventListener("click", () => act("Hold new jobs", "POST", "/_mock/jobs/hold", {}));
    $("release").addEventListener("click", async () => {
      const answer = await act("Release", "POST", "/_mock/jobs/release", {});
      if (answer) notice(`Released ${answer.released.length} job(s)`);
    });
    $("reset").addEventListener("click", () => {
      if (confirm("Forget every job, event, journal entry and scenario, and restore the start-up settings?")) {
        act("Reset", "POST", "/_mock/reset", {});
      }
    });
    $("detail-close").addEventListener("click", () => {
      selected = null;
      $("detail-panel").hidden = true;
      if (current) renderJobs(current.jobs);
    });
    $("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      token = $("token").value;
      sessionStorage.setItem(TOKEN_KEY, token);
      $("login").hidden = true;
      connect();
    });
    connect();
  });
})();
