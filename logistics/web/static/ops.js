// The live ops map: every online driver and every job under way, read from GraphQL (opsMap)
// every 2 s with the token ops paste, and one job's timeline and offer log (opsJob) on a click.
// Names and notes are typed by users: every text goes in as a text node, never as HTML.
// Colours live in ops.css, keyed by the data-state and data-status attributes set here.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const TOKEN_KEY = "logistics.ops.token";
  const EVERY_MS = 2000;
  const BACKOFF_MS = 10000;
  // Refusals that no retry will mend: the form comes back with the reason.
  const AUTH_CODES = ["UNAUTHENTICATED", "FORBIDDEN"];
  const MAP_QUERY = `query OpsMap($limit: Int!) { opsMap(limit: $limit) {
    drivers { id name vehicleType point { lat lng } recordedAt stale busy offeredJobId }
    jobs { id status pickup { lat lng } dropoff { lat lng } driverId offer { driverId expiresAt }
      dispatchWaiting createdAt }
    truncated generatedAt } }`;
  const JOB_QUERY = `query OpsJob($id: ID!) { opsJob(jobId: $id) { jobId status
    timeline { status at actor note }
    offerLog { dispatch { state offers waiting }
      entries { driverId status reason distanceM offeredAt expiresAt respondedAt windowAt costM } } } }`;
  const STATUSES = ["AWAITING_PAYMENT", "SEARCHING", "ACCEPTED", "PICKUP_STARTED", "PICKUP_ARRIVED",
    "PICKUP_COMPLETED", "DROPOFF_STARTED", "DROPOFF_ARRIVED", "DROPOFF_COMPLETED", "COMPLETED", "CANCELLED"];
  const DRIVER_TEXT = { free: "free", busy: "busy", offered: "holding an offer", stale: "stale" };

  const $ = (id) => document.getElementById(id);
  const clock = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const day = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" });

  const ops = { data: null, polls: 0 };
  window.ops = ops;

  let token = null;
  let session = 0; // bumped at each sign-in and sign-out: an answer to an older one is dropped
  let timer = null;
  let inFlight = false;
  let again = false;
  // Server time minus device time at the last answer: the device's clock may be anything.
  let offset = 0;
  let fitted = false;
  let selected = null;
  const drivers = new Map(); // id -> {marker, tip, driver}
  const jobs = new Map(); // id -> {pin, tip, route, offerLine}
  const offerRows = new Map(); // job id -> li

  // The world until the first answer: Leaflet cannot place a layer on a map without a view.
  const map = L.map("map").setView([20, 0], 2);
  // Lines below the markers, so that a line never covers the driver it starts from.
  map.createPane("lines").style.zIndex = 350;
  // No tiles configured: nothing at all is asked of another host.
  const tiles = config.tiles;
  const tileOptions = tiles && { attribution: tiles.attribution, maxZoom: 19, referrerPolicy: "strict-origin" };
  if (tiles) L.tileLayer(tiles.url, tileOptions).addTo(map);
  // On a narrow screen the panel changes the map's height without any window resize.
  if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe($("map"));

  const serverNow = () => Date.now() + offset;
  const words = (name) => String(name || "").replace(/_/g, " ").toLowerCase();
  const distance = (m) => (m < 1000 ? m + " m" : (m / 1000).toFixed(1) + " km");
  const shortId = (id) => "…" + String(id).slice(-6);
  const latLng = (point) => [point.lat, point.lng];
  const reason = (error) => (error.code ? error.code + ": " : "") + error.message;
  const show = (id, visible) => { $(id).hidden = !visible; };
  const driverState = (d) => (d.stale ? "stale" : d.offeredJobId ? "offered" : d.busy ? "busy" : "free");

  // An element and its children: strings go in as text nodes, empty ones (null, false, "") not at all.
  function h(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    node.append(...children.filter((c) => c || c === 0).map((c) => (typeof c === "object" ? c : String(c))));
    return node;
  }

  // A tooltip's lines, the first one in bold.
  function fill(node, first, ...rest) {
    node.replaceChildren(h("strong", "", first));
    for (const text of rest.filter(Boolean)) node.append(h("br"), text);
  }

  function timeText(iso) {
    if (!iso) return "—";
    const at = new Date(iso);
    const today = new Date(serverNow()).toDateString() === at.toDateString();
    return today ? clock.format(at) : day.format(at) + " " + clock.format(at);
  }

  function agoText(iso) {
    if (!iso) return "no time on its position";
    const seconds = Math.max(0, Math.round((serverNow() - Date.parse(iso)) / 1000));
    return "last seen " + (seconds < 300 ? seconds + " s" : Math.round(seconds / 60) + " min") + " ago";
  }

  async function ask(query, variables) {
    const response = await fetch(config.graphql, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: "Bearer " + token },
      body: JSON.stringify({ query, variables }),
      cache: "no-store",
    });
    const body = await response.json().catch(() => null);
    if (body && body.errors && body.errors.length) {
      const refusal = new Error(body.errors[0].message);
      refusal.code = (body.errors[0].extensions || {}).code || "ERROR";
      throw refusal;
    }
    if (!response.ok || !body || !body.data) throw new Error("the server answered " + response.status);
    return body.data;
  }

  // One request at a time: the next one is set 2 s after an answer, 10 s after a failure.
  function schedule(ms) { clearTimeout(timer); timer = setTimeout(poll, ms); }

  function kick() { clearTimeout(timer); if (inFlight) again = true; else poll(); }

  async function poll() {
    inFlight = true;
    const mine = session;
    let delay = EVERY_MS;
    try {
      const data = (await ask(MAP_QUERY, { limit: 2000 })).opsMap;
      if (mine !== session) return;
      offset = Date.parse(data.generatedAt) - Date.now();
      ops.data = data;
      ops.polls += 1;
      view("live");
      notice("");
      render(data);
      if (selected) await loadJob(mine, selected);
    } catch (error) {
      if (mine !== session) return;
      // An expected refusal is said on the page: nothing for the console.
      if (AUTH_CODES.includes(error.code)) {
        return signOut("The server refused this token (" + reason(error) + ").");
      }
      delay = BACKOFF_MS;
      notice("The map could not be refreshed (" + reason(error) + "); trying again every 10 s.");
    } finally {
      inFlight = false;
      const rerun = again;
      again = false;
      if (token && (rerun || mine === session)) schedule(rerun ? 0 : delay);
    }
  }

  function notice(text) { $("notice").textContent = text; show("notice", Boolean(text)); }

  // The form, "checking" (a token sent, no answer yet) or the live panel: ops.css shows which.
  function view(name) { document.body.dataset.view = name; }

  // The token is kept in sessionStorage: it dies with the tab.
  function signIn(value) {
    token = value.replace(/^\s*Bearer\s+/i, "").trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    session += 1;
    fitted = false;
    view("checking");
    kick();
  }

  function signOut(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    session += 1;
    clearTimeout(timer);
    ops.data = null;
    select(null);
    render({ drivers: [], jobs: [], truncated: false, generatedAt: null });
    view("form");
    $("error").textContent = message;
    $("token").focus();
  }

  function driverTip(entry) {
    const d = entry.driver;
    const doing = [driverState(d), d.stale && d.busy && "busy", d.stale && d.offeredJobId && "offered"];
    const state = doing.filter(Boolean).map((s) => DRIVER_TEXT[s]).join(", ");
    fill(entry.tip, d.name, words(d.vehicleType) + " · " + state, agoText(d.recordedAt));
  }

  function placeDriver(driver) {
    let entry = drivers.get(driver.id);
    if (entry) {
      entry.marker.setLatLng(latLng(driver.point));
    } else {
      const options = { radius: 7, weight: 2, fillOpacity: 1, className: "driver" };
      const marker = L.circleMarker(latLng(driver.point), options).addTo(map);
      entry = { marker, tip: h("div", "tip"), driver };
      // Filled as it opens, before Leaflet measures it: "last seen" is then up to date.
      marker.bindTooltip(() => { driverTip(entry); return entry.tip; }, { direction: "top", offset: [0, -6] });
      marker.getElement().setAttribute("data-driver-id", driver.id);
      drivers.set(driver.id, entry);
    }
    entry.driver = driver;
    const element = entry.marker.getElement();
    element.setAttribute("data-state", driverState(driver));
    if (driver.stale) element.setAttribute("data-stale", "true");
    else element.removeAttribute("data-stale");
    if (entry.marker.isTooltipOpen()) driverTip(entry);
  }

  // A line kept from poll to poll: made, moved, or removed when there is nothing to draw.
  function keepLine(line, points, className, status) {
    if (!points) {
      if (line) line.remove();
      return null;
    }
    if (line) line.setLatLngs(points);
    else line = L.polyline(points, { pane: "lines", interactive: false, className }).addTo(map);
    if (status) line.getElement().setAttribute("data-status", status);
    return line;
  }

  function placeJob(job, driversById) {
    let entry = jobs.get(job.id);
    if (entry) {
      entry.pin.setLatLng(latLng(job.pickup));
    } else {
      const tip = h("div", "tip");
      const icon = L.divIcon({ className: "job-pin", iconSize: [14, 14] });
      const pin = L.marker(latLng(job.pickup), { icon })
        .bindTooltip(tip, { direction: "top", offset: [0, -8] }).addTo(map);
      pin.on("click", () => select(job.id));
      pin.getElement().setAttribute("data-job-id", job.id);
      entry = { pin, tip, route: null, offerLine: null };
      jobs.set(job.id, entry);
    }
    const element = entry.pin.getElement();
    element.setAttribute("data-status", job.status);
    element.setAttribute("aria-label", "Job " + job.id + ", " + words(job.status));
    element.classList.toggle("selected", job.id === selected);
    const holder = job.offer && driversById.get(job.offer.driverId);
    fill(entry.tip, words(job.status), "job " + shortId(job.id) + " · created " + timeText(job.createdAt),
      holder && "offered to " + holder.name, job.dispatchWaiting && "waiting: " + words(job.dispatchWaiting));
    // Under way (a driver has it): a line to where it goes.
    const route = job.driverId ? [latLng(job.pickup), latLng(job.dropoff)] : null;
    entry.route = keepLine(entry.route, route, "route", job.status);
    const offer = holder ? [latLng(holder.point), latLng(job.pickup)] : null;
    entry.offerLine = keepLine(entry.offerLine, offer, "offer-line", null);
  }

  // What the last answer no longer holds goes from the map (or the list).
  function drop(registry, seen, remove) {
    for (const [id, entry] of registry) {
      if (!seen.has(id)) { remove(entry); registry.delete(id); }
    }
  }

  function render(data) {
    const driversById = new Map(data.drivers.map((d) => [d.id, d]));
    const points = [];
    for (const driver of data.drivers) {
      placeDriver(driver);
      points.push(latLng(driver.point));
    }
    for (const job of data.jobs) {
      placeJob(job, driversById);
      points.push(latLng(job.pickup));
      if (job.driverId) points.push(latLng(job.dropoff));
    }
    drop(drivers, driversById, (entry) => entry.marker.remove());
    drop(jobs, new Set(data.jobs.map((job) => job.id)), (entry) => {
      for (const layer of [entry.pin, entry.route, entry.offerLine]) if (layer) layer.remove();
    });
    renderCounts(data);
    renderOffers(data, driversById);
    // Fitted once per sign-in: a map that jumps at every poll cannot be worked on. The panel
    // has just filled (on a narrow screen the map shrinks with it): Leaflet takes the new size.
    if (!fitted && points.length) {
      fitted = true;
      map.invalidateSize();
      map.fitBounds(points, { padding: [40, 40], maxZoom: 16 });
    }
  }

  function countItem(label, count, key) {
    const item = h("li", "count", h("span", "swatch"), h("span", "label", label), h("strong", "", count));
    item.setAttribute(STATUSES.includes(key) ? "data-status" : "data-state", key);
    return item;
  }

  function renderCounts(data) {
    const by = { free: 0, busy: 0, offered: 0, stale: 0 };
    for (const driver of data.drivers) by[driverState(driver)] += 1;
    $("driver-counts").replaceChildren(countItem("online", data.drivers.length, "all"),
      ...Object.keys(by).map((state) => countItem(state, by[state], state)));
    const statuses = {};
    for (const job of data.jobs) statuses[job.status] = (statuses[job.status] || 0) + 1;
    $("job-counts").replaceChildren(countItem("jobs", data.jobs.length, "all"),
      ...STATUSES.filter((s) => statuses[s]).map((s) => countItem(words(s), statuses[s], s)));
    const truncated = data.truncated ? " · too many: the first 2000 drivers and jobs only" : "";
    $("updated").textContent = data.generatedAt ? "Server time " + timeText(data.generatedAt) + truncated : "";
  }

  function renderOffers(data, driversById) {
    const live = data.jobs.filter((job) => job.offer)
      .sort((a, b) => Date.parse(a.offer.expiresAt) - Date.parse(b.offer.expiresAt));
    const rows = live.map((job) => {
      let row = offerRows.get(job.id);
      if (!row) {
        // A button inside: the keyboard opens the job as the mouse does.
        row = h("li", "offer", h("button", "offer-button"));
        row.firstChild.type = "button";
        row.setAttribute("data-offer-job-id", job.id);
        offerRows.set(job.id, row);
      }
      const holder = driversById.get(job.offer.driverId);
      row.dataset.expiresAt = job.offer.expiresAt;
      row.classList.toggle("selected", job.id === selected);
      const who = holder ? holder.name : "driver " + shortId(job.offer.driverId);
      row.firstChild.replaceChildren(h("span", "who", who), h("span", "what", "job " + shortId(job.id)),
        h("span", "countdown"));
      return row;
    });
    drop(offerRows, new Set(live.map((job) => job.id)), (row) => row.remove());
    const list = $("offers");
    // Put back only when the order changes, so that a row never moves under a click.
    if (rows.some((row, index) => list.children[index] !== row)) list.replaceChildren(...rows);
    show("no-offers", rows.length === 0 && Boolean(data.generatedAt));
    tick();
  }

  // Every second: the offers' countdowns and an open driver tooltip's "last seen".
  function tick() {
    for (const row of offerRows.values()) {
      const left = Math.ceil((Date.parse(row.dataset.expiresAt) - serverNow()) / 1000);
      const countdown = row.querySelector(".countdown");
      countdown.textContent = left > 0 ? left + " s" : "expired";
      countdown.dataset.seconds = String(Math.max(left, 0));
    }
    for (const entry of drivers.values()) if (entry.marker.isTooltipOpen()) driverTip(entry);
  }

  // A job opened in the panel (null closes it); its detail comes with the next poll, at once.
  function select(jobId) {
    selected = jobId;
    show("job", Boolean(jobId));
    for (const [id, entry] of jobs) entry.pin.getElement().classList.toggle("selected", id === jobId);
    for (const [id, row] of offerRows) row.classList.toggle("selected", id === jobId);
    if (!jobId) return;
    $("job-title").textContent = "Job " + shortId(jobId);
    $("job-body").replaceChildren(h("p", "fine", "Loading…"));
    kick();
  }

  async function loadJob(mine, jobId) {
    let shown;
    try {
      shown = jobDetail((await ask(JOB_QUERY, { id: jobId })).opsJob);
    } catch (error) {
      if (AUTH_CODES.includes(error.code)) throw error;
      shown = [h("p", "error", "Cannot show this job (" + reason(error) + ").")];
    }
    if (mine === session && selected === jobId) $("job-body").replaceChildren(...shown);
  }

  function offerEntry(entry, names) {
    const ends = entry.status === "EXPIRED" ? "expired " : "expires ";
    const times = ["offered " + timeText(entry.offeredAt), ends + timeText(entry.expiresAt)];
    if (entry.respondedAt) times.push("answered " + timeText(entry.respondedAt));
    const cost = entry.costM === null ? "" : " · cost " + distance(entry.costM);
    const item = h("li", "entry",
      h("div", "entry-head", h("span", "who", names.get(entry.driverId) || "driver"),
        h("span", "badge", entry.status)),
      h("div", "mono", entry.driverId),
      h("div", "", distance(entry.distanceM) + " away · " + times.join(" · ")),
      entry.windowAt && h("div", "", "window " + timeText(entry.windowAt) + cost),
      entry.reason && h("div", "note", entry.reason));
    item.setAttribute("data-entry-driver-id", entry.driverId);
    item.dataset.status = entry.status;
    return item;
  }

  function jobDetail(job) {
    const names = new Map((ops.data ? ops.data.drivers : []).map((d) => [d.id, d.name]));
    const dispatch = job.offerLog.dispatch;
    const fact = (term, value, className) =>
      (value || value === 0) && h("div", "", h("dt", "", term), h("dd", className, value));
    const facts = h("dl", "facts", fact("Job", job.jobId, "mono"), fact("Status", job.status),
      dispatch && fact("Dispatch", dispatch.state), dispatch && fact("Offers made", dispatch.offers),
      dispatch && fact("Waiting", words(dispatch.waiting)));
    const steps = h("ol", "steps", ...job.timeline.map((step) => h("li", "step",
      h("span", "step-status", step.status), h("time", "", timeText(step.at)),
      h("span", "actor", "by " + words(step.actor)), step.note && h("span", "note", step.note))));
    const entries = job.offerLog.entries.map((entry) => offerEntry(entry, names));
    const log = h("ol", "entries", ...(entries.length ? entries : [h("li", "fine", "No offer made yet.")]));
    return [facts, h("h3", "", "Timeline"), steps, h("h3", "", "Offer log"), log];
  }

  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("token").value;
    $("token").value = "";
    if (value.trim()) signIn(value);
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("job-close").addEventListener("click", () => select(null));
  $("offers").addEventListener("click", (event) => {
    const row = event.target.closest("[data-offer-job-id]");
    if (row) select(row.getAttribute("data-offer-job-id"));
  });
  setInterval(tick, 1000);

  const kept = sessionStorage.getItem(TOKEN_KEY);
  if (kept) signIn(kept);
  else signOut("");
})();
