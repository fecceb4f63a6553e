/* The station's outbox: reports kept in IndexedDB and sent to the intake, oldest first.
 *
 * A report gets its report_id (UUID v4) and its device time stamp when it is saved, and its
 * request body is frozen then as a JSON string: every retry sends the same bytes, so the
 * intake, which deduplicates by report_id, stores it once. Status:
 *   queued     saved here, never sent
 *   sent       sent at least once, no answer yet (lost or still coming); it is sent again
 *   stored     the intake answered 202: it is on the intake's disk
 *   attention  the intake answered 4xx: it is not sent again unless the volunteer asks
 * A 401 refuses the token, not the report: sending pauses until the next sign-in.
 */
"use strict";

const StationQueue = (() => {
  const DB_NAME = "racecramp-station";
  const DB_VERSION = 1;
  const REPORTS = "reports";
  const SESSION = "session";
  const SESSION_KEY = "current";
  const REPORTS_URL = "/v1/reports";
  const STATION_URL = "/v1/station";
  const SEND_LOCK = "racecramp-station-send";
  const REQUEST_TIMEOUT_MS = 20000;
  const CLOCK_KEY = "racecramp-station-clock";
  // A device clock further than this from the intake's is reported to the volunteer.
  const CLOCK_WARN_MS = 2 * 60 * 1000;
  const PENDING = new Set(["queued", "sent"]);

  let dbPromise = null;

  function openDb() {
    if (!dbPromise) {
      dbPromise = new Promise((resolve, reject) => {
        const request = indexedDB.open(DB_NAME, DB_VERSION);
        request.onupgradeneeded = () => {
          const db = request.result;
          const reports = db.createObjectStore(REPORTS, { keyPath: "seq", autoIncrement: true });
          reports.createIndex("report_id", "report_id", { unique: true });
          db.createObjectStore(SESSION);
        };
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
        request.onblocked = () => reject(new Error("the report store is held by an older version of this app in another tab: close it"));
      });
    }
    return dbPromise;
  }

  // Runs fn(stores...) in one transaction; resolves with fn's result once the transaction has committed.
  async function transact(names, mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(names, mode, { durability: "strict" });
      let result;
      tx.oncomplete = () => resolve(result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
      result = fn(...names.map((name) => tx.objectStore(name)));
    });
  }

  function requested(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function getSession() {
    const db = await openDb();
    return requested(db.transaction(SESSION).objectStore(SESSION).get(SESSION_KEY)).then((s) => s || null);
  }

  function saveSession(session) {
    return transact([SESSION], "readwrite", (store) => { store.put(session, SESSION_KEY); });
  }

  function forgetSession() {
    return transact([SESSION], "readwrite", (store) => { store.delete(SESSION_KEY); });
  }

  async function allReports() {
    const db = await openDb();
    return requested(db.transaction(REPORTS).objectStore(REPORTS).getAll());
  }

  // The report as POST /v1/reports takes it, for `station` of `session`, stamped `now` on this device.
  function reportBody(session, station, fields, now) {
    const bib = (fields.bib || "").trim();
    return {
      report_id: crypto.randomUUID(),
      race_id: session.race_id,
      source: station.source,
      point_id: station.point_id,
      km: station.km,
      bib: bib === "" ? null : bib,
      reported_at_utc: now.toISOString(),
      muscle_group: fields.muscle_group,
      severity: fields.severity,
      treatment: fields.treatment,
      disposition: fields.disposition,
    };
  }

  // Saves a new report (durably) and resolves with its stored record.
  async function addReport(session, station, fields, now = new Date()) {
    const body = reportBody(session, station, fields, now);
    const record = {
      report_id: body.report_id,
      body: JSON.stringify(body),
      station_label: station.label,
      status: "queued",
      attempts: 0,
      created_at: body.reported_at_utc,
      last_attempt_at: null,
      http_status: null,
      message: null,
      stored_at: null,
    };
    await transact([REPORTS], "readwrite", (store) => {
      store.add(record).onsuccess = (event) => { record.seq = event.target.result; };
    });
    return record;
  }

  function updateReport(seq, changes) {
    return transact([REPORTS], "readwrite", (store) => {
      store.get(seq).onsuccess = (event) => {
        const record = event.target.result;
        if (record) store.put(Object.assign(record, changes));
      };
    });
  }

  function removeReport(seq) {
    return transact([REPORTS], "readwrite", (store) => { store.delete(seq); });
  }

  // Drops the reports the intake has stored (after sign-out): what is not stored stays.
  function forgetStored() {
    return transact([REPORTS], "readwrite", (store) => {
      store.openCursor().onsuccess = (event) => {
        const cursor = event.target.result;
        if (!cursor) return;
        if (cursor.value.status === "stored") cursor.delete();
        cursor.continue();
      };
    });
  }

  // The intake's problem text: a 422 lists one message per field, others carry one string.
  function problemText(status, answer) {
    const detail = answer && answer.detail;
    if (Array.isArray(detail)) return detail.map((p) => (p && p.msg) || JSON.stringify(p)).join("; ");
    if (typeof detail === "string") return detail;
    return `HTTP ${status}`;
  }

  // Device clock minus the intake's, from the response's Date header (taken mid-request).
  function noteClock(response, sentAtMs, receivedAtMs) {
    const date = response.headers.get("Date");
    const serverMs = date ? Date.parse(date) : NaN;
    if (Number.isNaN(serverMs)) return null;
    // Date has whole seconds: allow for the second that was cut off.
    const offsetMs = (sentAtMs + receivedAtMs) / 2 - (serverMs + 500);
    const clock = { offset_ms: offsetMs, checked_at: new Date(receivedAtMs).toISOString() };
    localStorage.setItem(CLOCK_KEY, JSON.stringify(clock));
    return clock;
  }

  // A JSON value kept in localStorage, or null when there is none or it is unreadable (said in the console).
  function readLocal(key) {
    try {
      return JSON.parse(localStorage.getItem(key) || "null");
    } catch (error) {
      console.error(`localStorage ${key} is unreadable; ignoring it`, error);
      return null;
    }
  }

  function lastClock() {
    return readLocal(CLOCK_KEY);
  }

  function clockIsOff(clock) {
    return clock !== null && Math.abs(clock.offset_ms) > CLOCK_WARN_MS;
  }

  async function request(url, init) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    const sentAt = Date.now();
    try {
      const response = await fetch(url, { ...init, signal: controller.signal, cache: "no-store", credentials: "omit" });
      noteClock(response, sentAt, Date.now());
      let answer = null;
      if ((response.headers.get("Content-Type") || "").includes("application/json")) {
        try {
          answer = await response.json();
        } catch (error) {
          // A body cut off on the way is a lost answer, not an answer.
          throw new Error(`the answer was cut off (${error.message})`);
        }
      }
      return { response, answer };
    } finally {
      clearTimeout(timer);
    }
  }

  // GET /v1/station with `token`: {ok, session} or {ok: false, status, message}; network trouble throws.
  async function whoIs(token) {
    const { response, answer } = await request(STATION_URL, { headers: { Authorization: `Bearer ${token}` } });
    if (response.status === 200 && answer) return { ok: true, session: answer };
    return { ok: false, status: response.status, message: problemText(response.status, answer), fromIntake: answer !== null };
  }

  // One report to the intake: {outcome} with outcome "stored", "attention", "token_refused" or "retry".
  async function sendOne(record, token) {
    const attempts = record.attempts + 1;
    await updateReport(record.seq, { status: "sent", attempts, last_attempt_at: new Date().toISOString() });
    let response, answer;
    try {
      ({ response, answer } = await request(REPORTS_URL, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: record.body,
      }));
    } catch (error) {
      const reason = error.name === "AbortError" ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : "no answer (network)";
      await updateReport(record.seq, { message: `${reason}; sent again when the network allows` });
      return { outcome: "retry" };
    }
    const status = response.status;
    if (status === 202) {
      await updateReport(record.seq, {
        status: "stored", http_status: status, message: null, stored_at: new Date().toISOString(),
        batch_id: answer && answer.batch_id,
      });
      return { outcome: "stored" };
    }
    // Only the intake's own answers (JSON with a detail) decide; a portal's or proxy's page does not.
    const fromIntake = answer !== null && typeof answer === "object" && "detail" in answer;
    if (status === 401 && fromIntake) {
      await updateReport(record.seq, { message: "waiting: the station card was refused; sign in again to send" });
      return { outcome: "token_refused", status, message: problemText(status, answer) };
    }
    if (status >= 400 && status < 500 && status !== 408 && status !== 429 && fromIntake) {
      await updateReport(record.seq, { status: "attention", http_status: status, message: problemText(status, answer) });
      return { outcome: "attention" };
    }
    await updateReport(record.seq, { message: `the intake answered ${status}; sent again later` });
    return { outcome: "retry" };
  }

  // Sends every pending report, oldest first, with the session's token. Stops at the first
  // report that could not be delivered (so the order holds) or when the token is refused.
  // Resolves {sent, stored, attention, outcome}; outcome is "done", "retry", "token_refused", "busy" or "signed_out".
  async function sendPending(onProgress = () => {}) {
    const run = async () => {
      const session = await getSession();
      if (!session || session.refused) return { outcome: "signed_out", stored: 0, attention: 0 };
      const pending = (await allReports()).filter((r) => PENDING.has(r.status)).sort((a, b) => a.seq - b.seq);
      let stored = 0, attention = 0;
      for (const record of pending) {
        const sent = await sendOne(record, session.token);
        onProgress();
        if (sent.outcome === "stored") stored += 1;
        else if (sent.outcome === "attention") attention += 1;
        else {
          if (sent.outcome === "token_refused") {
            await saveSession({ ...session, refused: { status: sent.status, message: sent.message } });
          }
          return { outcome: sent.outcome, stored, attention };
        }
      }
      return { outcome: "done", stored, attention };
    };
    if (navigator.locks) {
      // One sender per device: another tab that holds the lock is already sending.
      return navigator.locks.request(SEND_LOCK, { ifAvailable: true }, (lock) => (lock ? run() : { outcome: "busy", stored: 0, attention: 0 }));
    }
    return run();
  }

  // Puts a report the intake refused back in the queue, unchanged (after the volunteer fixed the cause).
  function sendAgain(seq) {
    return updateReport(seq, { status: "queued", http_status: null, message: null });
  }

  return {
    CLOCK_WARN_MS, PENDING, getSession, saveSession, forgetSession, allReports, addReport, removeReport,
    forgetStored, sendPending, sendAgain, whoIs, lastClock, clockIsOff, readLocal,
  };
})();
