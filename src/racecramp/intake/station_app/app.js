/* The station screen: sign in with the station card, write cramp reports, watch them reach the intake.
 * Reports live in StationQueue (IndexedDB); this file only draws and reacts.
 */
"use strict";

(() => {
  const DRAFT_KEY = "racecramp-station-draft";
  const SHOWN_REPORTS = 50;
  const BIB_MAX_CHARS = 16;  // the intake's limit (intake/models.py Bib)
  const RETRY_FIRST_MS = 2000;
  const RETRY_MAX_MS = 60000;
  const POLL_MS = 15000;
  const DRILL_CHECK_MS = 15000;
  const TOAST_MS = 3500;
  const STATUS_TEXT = { queued: "Queued", sent: "Sent", stored: "Stored", attention: "Needs attention" };
  const STATUS_ICON = { queued: "\u25F7", sent: "\u2191", stored: "\u2713", attention: "!" };

  const $ = (id) => document.getElementById(id);
  const channel = "BroadcastChannel" in window ? new BroadcastChannel("racecramp-station") : null;

  let session = null;
  let sending = false;
  let sendAgainWhenDone = false;
  let retryTimer = null;
  let retryDelayMs = RETRY_FIRST_MS;
  let toastTimer = null;
  let scanAbort = null;

  // ---- small helpers ---------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else if (key.includes("-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    node.append(...children);
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  function toast(text) {
    const node = $("toast");
    node.textContent = text;
    show(node, true);
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => show(node, false), TOAST_MS);
  }

  function changed() {
    if (channel) channel.postMessage("changed");
  }

  function clockTime(iso) {
    return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  }

  function choiceLabel(name, value) {
    const field = session && session.fields.find((f) => f.name === name);
    const choice = field && field.choices.find((c) => c.value === value);
    return choice ? choice.label : value;
  }

  function stationText(station) {
    return `${station.label} \u00B7 km ${station.km.toFixed(1)}`;
  }

  // ---- network state, clock ---------------------------------------------------------------

  function drawNetwork(reports) {
    const pending = reports.filter((r) => StationQueue.PENDING.has(r.status)).length;
    const net = $("net");
    let state = navigator.onLine ? "online" : "offline";
    let text = navigator.onLine ? "Online" : "Offline";
    if (navigator.onLine && sending) { state = "sending"; text = "Sending\u2026"; }
    if (pending > 0) text += ` \u00B7 ${pending} to send`;
    net.dataset.state = state;
    net.textContent = text;
    show($("offline-banner"), !navigator.onLine);
  }

  // During a replay drill the intake says where the replayed race's clock is: reports are
  // stamped on it, advanced by the time since the intake said so; otherwise on this device's clock.
  function reportTime() {
    if (!session || !session.drill_race_clock_utc) return new Date();
    const told = Date.parse(session.checked_at || session.signed_in_at);
    return new Date(Date.parse(session.drill_race_clock_utc) + Math.max(0, Date.now() - told));
  }

  function drawClock() {
    const clock = StationQueue.lastClock();
    const banner = $("clock-banner");
    if (session && session.drill_race_clock_utc) {
      banner.textContent = `Drill: ${session.race_id} is a replayed race. Reports carry its clock (now about ` +
        `${clockTime(reportTime().toISOString())}), not this device's.`;
      show(banner, true);
      return;
    }
    if (!StationQueue.clockIsOff(clock)) {
      show(banner, false);
      return;
    }
    const minutes = Math.round(Math.abs(clock.offset_ms) / 60000);
    const way = clock.offset_ms > 0 ? "ahead of" : "behind";
    banner.textContent = `This device's clock is about ${minutes} min ${way} the intake's. Reports carry this ` +
      "device's time: set the clock to automatic (network time), or tell medical command.";
    show(banner, true);
  }

  // ---- sign-in ----------------------------------------------------------------------------

  function refusalText(result) {
    if (result.status === 401) {
      return "The intake does not know this card: the token is mistyped, or the card was revoked. " +
        "Check the card, or ask medical command for a new one.";
    }
    if (result.status === 403) return `The intake refused this card: ${result.message}`;
    if (result.status === 503) return `The intake is not ready: ${result.message}`;
    return `The intake answered ${result.status}: ${result.message}`;
  }

  function drawSignedIn() {
    const signedIn = session !== null;
    show($("signin"), !signedIn || Boolean(session.refused && session.reauth));
    show($("work"), signedIn);
    show($("card-button"), signedIn);
    const tokenBanner = $("token-banner");
    if (signedIn && session.refused) {
      tokenBanner.replaceChildren(
        el("strong", { text: "Station card refused. " }),
        document.createTextNode(`${refusalText(session.refused)} Reports are kept on this device and sent after you sign in again. `),
        el("button", { type: "button", className: "inline", id: "reauth", text: "Sign in again", onclick: reauth }),
      );
      show(tokenBanner, true);
    } else {
      show(tokenBanner, false);
    }
    if (!signedIn) {
      $("station-line").textContent = "Not signed in";
      return;
    }
    const who = session.principal === "command" ? "medical command" : session.principal;
    $("station-line").replaceChildren(
      document.createTextNode(session.station ? stationText(session.station) : `${who}: choose a station`),
      el("span", { className: "race", text: session.race_id }));
    const picking = session.principal === "command";
    show($("station-pick"), picking);
    if (picking) drawStationPicker();
    drawFields();
  }

  function drawStationPicker() {
    const select = $("station-select");
    const options = [el("option", { value: "", text: "Choose the station\u2026", disabled: true })];
    for (const station of session.stations) {
      options.push(el("option", { value: station.point_id, text: stationText(station) }));
    }
    select.replaceChildren(...options);
    select.value = session.station ? session.station.point_id : "";
  }

  async function reauth() {
    session = { ...session, reauth: true };
    drawSignedIn();
    $("token").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    const token = $("token").value.trim();
    const error = $("signin-error");
    show(error, false);
    if (!token) {
      error.textContent = "Type the token from the station card, or scan its QR code.";
      show(error, true);
      return;
    }
    $("signin-submit").disabled = true;
    try {
      const result = await StationQueue.whoIs(token);
      if (!result.ok) {
        error.textContent = refusalText(result);
        show(error, true);
        return;
      }
      const previous = session && session.station;
      const answer = result.session;
      const station = answer.station || (previous && answer.stations.find((s) => s.point_id === previous.point_id)) || null;
      const now = new Date().toISOString();
      session = { ...answer, station, token, signed_in_at: now, checked_at: now };
      await StationQueue.saveSession(session);
      $("token").value = "";
      changed();
      drawSignedIn();
      drawClock();
      toast(session.station ? `Signed in: ${stationText(session.station)}` : "Signed in as medical command: choose the station");
      kick();
    } catch (problem) {
      console.error("sign-in request failed", problem);
      error.textContent = "Cannot reach the intake. Signing in needs the network once; try again where there is signal.";
      show(error, true);
    } finally {
      $("signin-submit").disabled = false;
    }
  }

  // When online, ask the intake again who the token is: a revoked card shows at once.
  async function checkSession() {
    if (!session || !navigator.onLine) return;
    let result;
    try {
      result = await StationQueue.whoIs(session.token);
    } catch (problem) {
      console.warn("could not check the station card now; will check again when online", problem);
      return;
    }
    drawClock();
    if (result.ok) {
      const station = result.session.station ||
        (session.station && result.session.stations.find((s) => s.point_id === session.station.point_id)) || null;
      session = { ...session, ...result.session, station, refused: null, reauth: false, checked_at: new Date().toISOString() };
    } else if (result.fromIntake && (result.status === 401 || result.status === 403)) {
      session = { ...session, refused: { status: result.status, message: result.message } };
    } else {
      console.warn(`station check answered ${result.status}: ${result.message}`);
      return;
    }
    await StationQueue.saveSession(session);
    drawSignedIn();
  }

  // ---- the report form --------------------------------------------------------------------

  function readDraft() {
    return StationQueue.readLocal(DRAFT_KEY);
  }

  function formValues() {
    const form = $("report-form");
    const values = { bib: $("bib").value };
    for (const field of session.fields) {
      const checked = form.querySelector(`input[name="${field.name}"]:checked`);
      values[field.name] = checked ? checked.value : null;
    }
    return values;
  }

  function saveDraft() {
    localStorage.setItem(DRAFT_KEY, JSON.stringify(formValues()));
  }

  function drawFields() {
    const container = $("choice-fields");
    if (container.dataset.drawnFor === JSON.stringify(session.fields)) return;
    const draft = readDraft() || {};
    const sets = session.fields.map((field) => {
      const chosen = field.choices.some((c) => c.value === draft[field.name]) ? draft[field.name] : field.default;
      const tiles = field.choices.map((choice) => el("label", { className: "tile" },
        el("input", { type: "radio", name: field.name, value: choice.value, checked: choice.value === chosen }),
        el("span", { text: choice.label })));
      return el("fieldset", { className: `choices choices-${field.name}` }, el("legend", { text: field.label }), el("div", { className: "tiles" }, ...tiles));
    });
    container.replaceChildren(...sets);
    container.dataset.drawnFor = JSON.stringify(session.fields);
    $("bib").value = draft.bib || "";
  }

  function resetForm() {
    localStorage.removeItem(DRAFT_KEY);
    $("bib").value = "";
    for (const field of session.fields) {
      const input = $("report-form").querySelector(`input[name="${field.name}"][value="${field.default}"]`);
      if (input) input.checked = true;
    }
  }

  async function saveReport(event) {
    event.preventDefault();
    const error = $("report-error");
    show(error, false);
    if (!session.station) {
      error.textContent = "Choose the station first (at the top of the form).";
      show(error, true);
      $("station-select").focus();
      return;
    }
    const values = formValues();
    if (values.bib.trim().length > BIB_MAX_CHARS) {
      error.textContent = `A bib has at most ${BIB_MAX_CHARS} characters; "${values.bib.trim()}" has ${values.bib.trim().length}.`;
      show(error, true);
      $("bib").focus();
      return;
    }
    const missing = session.fields.filter((f) => !values[f.name]).map((f) => f.label.toLowerCase());
    if (missing.length) {
      error.textContent = `Choose the ${missing.join(", ")}.`;
      show(error, true);
      return;
    }
    const button = $("save-report");
    button.disabled = true;
    try {
      const record = await StationQueue.addReport(session, session.station, values, reportTime());
      resetForm();
      changed();
      await drawQueue();
      const bib = JSON.parse(record.body).bib;
      toast(`${bib ? `Bib ${bib}` : "Report"} saved on this device${navigator.onLine ? ": sending" : ": sent when online"}`);
      $("bib").focus();
      kick();
    } catch (problem) {
      console.error("could not save the report on this device", problem);
      error.textContent = `This device could not save the report (${problem.message}). Nothing was lost from the form: try again, or write it on paper.`;
      show(error, true);
    } finally {
      button.disabled = false;
    }
  }

  // ---- the queue --------------------------------------------------------------------------

  function reportItem(record) {
    const body = JSON.parse(record.body);
    const chip = el("span", { className: "chip", "data-status": record.status },
      el("span", { className: "chip-icon", "aria-hidden": "true", text: STATUS_ICON[record.status] }),
      document.createTextNode(STATUS_TEXT[record.status]));
    const title = el("div", { className: "report-title" },
      el("span", { className: "report-bib", text: body.bib ? `Bib ${body.bib}` : "No bib" }), chip);
    const what = el("div", { className: "report-what",
      text: ["muscle_group", "severity", "treatment", "disposition"].map((name) => choiceLabel(name, body[name])).join(" \u00B7 ") });
    const meta = el("div", { className: "report-meta", text: `${clockTime(body.reported_at_utc)} \u00B7 ${record.station_label}` });
    const item = el("li", { className: "report", "data-status": record.status, "data-report-id": record.report_id }, title, what, meta);
    const held = StationQueue.PENDING.has(record.status) && (!session || session.refused);
    const note = held ? `Kept on this device: ${session ? "the station card was refused" : "nobody is signed in"}; sign in again to send it` :
      record.status === "stored" ? `Stored at the intake ${clockTime(record.stored_at)}` :
      record.status === "sent" ? `Sent ${record.attempts}\u00D7 \u00B7 ${record.message || "waiting for the answer"}` :
      record.status === "attention" ? `The intake answered ${record.http_status}: ${record.message}` :
      record.message || "Waiting to be sent";
    item.append(el("div", { className: "report-message", text: note }));
    if (record.status === "attention") {
      item.append(el("div", { className: "report-actions" },
        el("button", { type: "button", className: "secondary", text: "Send again", onclick: () => sendAgain(record) }),
        el("button", { type: "button", className: "ghost danger-text", text: "Remove", onclick: () => removeReport(record) })));
    }
    return item;
  }

  async function drawQueue() {
    const reports = await StationQueue.allReports();
    reports.sort((a, b) => b.seq - a.seq);
    const count = (status) => reports.filter((r) => r.status === status).length;
    const waiting = count("queued") + count("sent");
    const parts = [];
    if (waiting) parts.push(`${waiting} to send`);
    if (count("attention")) parts.push(`${count("attention")} need${count("attention") === 1 ? "s" : ""} attention`);
    parts.push(`${count("stored")} stored`);
    $("queue-summary").textContent = reports.length ? parts.join(" \u00B7 ") : "";
    $("queue").replaceChildren(...reports.slice(0, SHOWN_REPORTS).map(reportItem));
    show($("queue-empty"), reports.length === 0);
    const waitingNote = $("signin-waiting");
    waitingNote.textContent = `${waiting} report${waiting === 1 ? " is" : "s are"} on this device and not yet at the intake: ` +
      `${waiting === 1 ? "it is" : "they are"} sent after you sign in.`;
    show(waitingNote, waiting > 0 && !session);
    drawNetwork(reports);
    return reports;
  }

  async function sendAgain(record) {
    await StationQueue.sendAgain(record.seq);
    changed();
    await drawQueue();
    kick();
  }

  async function removeReport(record) {
    const body = JSON.parse(record.body);
    const what = body.bib ? `the report for bib ${body.bib}` : "this report without a bib";
    if (!window.confirm(`Remove ${what} from this device? The intake has not stored it, so it will not be counted.`)) return;
    await StationQueue.removeReport(record.seq);
    changed();
    await drawQueue();
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { retryTimer = null; kick(); }, retryDelayMs);
    retryDelayMs = Math.min(RETRY_MAX_MS, retryDelayMs * 2);
  }

  // Send what is pending; one sending pass at a time in this tab (and, with Web Locks, on this device).
  async function kick() {
    if (sending) { sendAgainWhenDone = true; return; }
    if (!navigator.onLine || !session) return;
    clearTimeout(retryTimer);
    retryTimer = null;
    sending = true;
    await drawQueue();
    let result;
    try {
      result = await StationQueue.sendPending(() => { changed(); drawQueue(); });
    } catch (problem) {
      console.error("sending the queue failed; trying again later", problem);
      result = { outcome: "retry" };
    } finally {
      sending = false;
    }
    await drawQueue();
    drawClock();
    // The back-off grows only while nothing gets through.
    if (result.outcome === "done" || result.stored > 0 || result.attention > 0) retryDelayMs = RETRY_FIRST_MS;
    if (result.outcome === "retry" || result.outcome === "busy") scheduleRetry();
    if (result.outcome === "token_refused") {
      session = await StationQueue.getSession();
      drawSignedIn();
    }
    if (sendAgainWhenDone) {
      sendAgainWhenDone = false;
      kick();
    }
  }

  // ---- station card dialog (sign out) -----------------------------------------------------

  async function openCard() {
    const reports = await StationQueue.allReports();
    const unsent = reports.filter((r) => r.status !== "stored").length;
    const who = session.principal === "command" ? "medical command (any station)" : session.principal;
    $("card-who").textContent = `Signed in as ${who}${session.station ? `, ${stationText(session.station)}` : ""}, race ${session.race_id}.`;
    $("card-unsent").textContent = unsent
      ? `${unsent} report${unsent === 1 ? " has" : "s have"} not been stored by the intake. Signing out keeps ${unsent === 1 ? "it" : "them"} on this device; ${unsent === 1 ? "it is" : "they are"} sent after the next sign-in with this station's card.`
      : "Every report on this device is stored at the intake. Signing out removes the card and the stored reports from this device.";
    $("sign-out").textContent = unsent ? `Sign out, keep ${unsent} unsent` : "Sign out";
    $("card-dialog").showModal();
  }

  async function signOut() {
    await StationQueue.forgetSession();
    await StationQueue.forgetStored();
    localStorage.removeItem(DRAFT_KEY);
    session = null;
    $("card-dialog").close();
    $("choice-fields").replaceChildren();
    delete $("choice-fields").dataset.drawnFor;
    changed();
    drawSignedIn();
    await drawQueue();
    toast("Signed out: the station card is no longer on this device");
  }

  // ---- scanning ---------------------------------------------------------------------------

  async function scanInto(input, formats, title, after) {
    const dialog = $("scanner");
    $("scanner-title").textContent = title;
    show($("scanner-error"), false);
    dialog.showModal();
    scanAbort = new AbortController();
    try {
      const text = await StationScanner.scan($("scanner-video"), formats, scanAbort.signal);
      input.value = text.trim();
      dialog.close();
      after();
    } catch (problem) {
      if (problem.name === "AbortError") return;
      console.error("scanning failed", problem);
      const why = problem.name === "NotAllowedError" ? "the camera was not allowed" :
        problem.name === "NotFoundError" ? "this device has no camera" : problem.message;
      $("scanner-error").textContent = `Cannot scan: ${why}. Type it instead.`;
      show($("scanner-error"), true);
    }
  }

  function cancelScan() {
    if (scanAbort) scanAbort.abort();
    $("scanner").close();
  }

  // ---- start ------------------------------------------------------------------------------

  async function registerServiceWorker() {
    if (!("serviceWorker" in navigator)) {
      console.warn("no service worker support: this page does not open offline");
      return;
    }
    try {
      await navigator.serviceWorker.register("sw.js", { scope: "./" });
    } catch (problem) {
      console.error("service worker registration failed: the app will not open offline", problem);
    }
  }

  // Ask the browser not to evict the queue under storage pressure (granted to installed apps, among others).
  async function keepStorage() {
    if (!navigator.storage || !navigator.storage.persist) return;
    if (!(await navigator.storage.persist())) console.warn("persistent storage not granted: install the app to the home screen");
  }

  async function start() {
    registerServiceWorker();
    keepStorage().catch((problem) => console.error("could not ask for persistent storage", problem));
    $("signin-form").addEventListener("submit", signIn);
    $("report-form").addEventListener("submit", saveReport);
    $("report-form").addEventListener("change", saveDraft);
    $("bib").maxLength = BIB_MAX_CHARS;
    $("bib").addEventListener("input", saveDraft);
    $("bib-keyboard").addEventListener("click", (event) => {
      const letters = $("bib").inputMode !== "text";
      $("bib").inputMode = letters ? "text" : "numeric";
      event.currentTarget.setAttribute("aria-pressed", String(letters));
      event.currentTarget.textContent = letters ? "123" : "ABC";
      $("bib").focus();
    });
    $("station-select").addEventListener("change", async (event) => {
      session = { ...session, station: session.stations.find((s) => s.point_id === event.target.value) || null };
      await StationQueue.saveSession(session);
      changed();
      drawSignedIn();
    });
    $("show-token").addEventListener("change", (event) => { $("token").type = event.target.checked ? "text" : "password"; });
    $("card-button").addEventListener("click", openCard);
    $("card-close").addEventListener("click", () => $("card-dialog").close());
    $("sign-out").addEventListener("click", signOut);
    $("scanner-cancel").addEventListener("click", cancelScan);
    $("scanner").addEventListener("cancel", () => { if (scanAbort) scanAbort.abort(); });
    if (StationScanner.cameraAvailable()) {
      show($("scan-card"), true);
      show($("scan-bib"), true);
      $("scan-card").addEventListener("click", () => scanInto($("token"), StationScanner.TOKEN_FORMATS, "Scan the station card",
        () => $("signin-form").requestSubmit()));
      $("scan-bib").addEventListener("click", () => scanInto($("bib"), StationScanner.BIB_FORMATS, "Scan the bib", saveDraft));
    }
    window.addEventListener("online", () => { retryDelayMs = RETRY_FIRST_MS; drawQueue(); checkSession().then(kick); });
    window.addEventListener("offline", () => drawQueue());
    document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") kick(); });
    if (channel) {
      channel.onmessage = async () => {
        session = await StationQueue.getSession();
        drawSignedIn();
        drawQueue();
      };
    }
    // A safety net for missed "online" events; a scheduled retry keeps its own back-off.
    setInterval(() => { if (!sending && retryTimer === null) kick(); }, POLL_MS);
    // A drill's race clock runs faster than the wall clock (a replay at 60x): ask for it again.
    setInterval(() => { if (session && session.drill_race_clock_utc) checkSession().then(drawClock); }, DRILL_CHECK_MS);

    session = await StationQueue.getSession();
    drawSignedIn();
    drawClock();
    await drawQueue();
    document.body.dataset.ready = "true";
    await checkSession();
    kick();
  }

  start().catch((problem) => {
    console.error("the station app could not start", problem);
    const banner = $("token-banner");
    banner.textContent = `This app could not open its store on this device (${problem.message}). Reload; if it persists, use paper and tell medical command.`;
    show(banner, true);
  });
})();
