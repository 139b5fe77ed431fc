// The public tracking page: one job seen through its link. The first state comes from
// /state, then /events streams status changes and the courier's positions until the server
// says the link has nothing more to tell ("end"). Every text that comes from the server is
// set with textContent, never as HTML: the addresses are typed by customers.
"use strict";

(function () {
  const token = document.body.dataset.token;
  const base = "/t/" + encodeURIComponent(token);

  const STATUS_TEXT = {
    awaiting_payment: "Waiting for the payment to go through",
    searching: "Finding a courier for your delivery",
    accepted: "A courier has accepted your delivery",
    pickup_started: "Your courier is on the way to pick up",
    pickup_arrived: "Your courier is at the pickup",
    pickup_completed: "Your parcel has been picked up",
    picked_up: "Your parcel has been picked up",
    dropoff_started: "Your parcel is on its way to you",
    dropoff_arrived: "Your courier has arrived",
    dropoff_completed: "Delivered",
    completed: "Delivered",
    cancelled: "This delivery was cancelled",
  };
  const STEP_TEXT = {
    awaiting_payment: "Order placed",
    searching: "Looking for a courier",
    accepted: "Courier assigned",
    pickup_started: "On the way to the pickup",
    pickup_arrived: "At the pickup",
    pickup_completed: "Picked up",
    picked_up: "Picked up",
    dropoff_started: "On the way to you",
    dropoff_arrived: "Courier arrived",
    dropoff_completed: "Delivered",
    completed: "Completed",
    cancelled: "Cancelled",
  };
  // How far along each status is. The server says "pickup_completed"; "picked_up" is the
  // same step under the name the page's first contract gave it.
  const RANK = {
    awaiting_payment: 0, searching: 1, accepted: 2, pickup_started: 3, pickup_arrived: 4,
    pickup_completed: 5, picked_up: 5, dropoff_started: 6, dropoff_arrived: 7,
    dropoff_completed: 8, completed: 9, cancelled: 10,
  };
  // The steps still ahead are listed too, so that the customer sees how far along it is.
  const MILESTONES = ["accepted", "pickup_completed", "dropoff_completed"];
  // The server ends the stream for these, so the page does not open one at all (a stream
  // refused outright would be a console error and a reconnection loop for nothing).
  const FINISHED = ["completed", "cancelled"];

  const $ = (id) => document.getElementById(id);
  const clock = new Intl.DateTimeFormat(undefined, { hour: "numeric", minute: "2-digit" });
  const dayAndClock = new Intl.DateTimeFormat(undefined, {
    weekday: "short", day: "numeric", month: "short", hour: "numeric", minute: "2-digit",
  });

  let map = null;
  let stops = null;
  let driverMarker = null;
  let driverRecordedAt = null;
  let tilesAdded = false;
  let source = null;
  // When the state arrived, by this page's monotonic clock: the ETA counts down from the
  // server's "seconds" rather than from the device's wall clock, which may be off.
  let stateReceivedAt = 0;

  const tracking = {
    state: null,
    positionsSeen: 0,
    driverLatLng() {
      if (!driverMarker) return null;
      const at = driverMarker.getLatLng();
      return [at.lat, at.lng];
    },
  };
  window.tracking = tracking;

  function timeText(iso) {
    const at = new Date(iso);
    return at.toDateString() === new Date().toDateString() ? clock.format(at) : dayAndClock.format(at);
  }

  function timeElement(iso) {
    const element = document.createElement("time");
    element.dateTime = iso;
    element.textContent = timeText(iso);
    return element;
  }

  function show(id, visible) {
    $(id).hidden = !visible;
  }

  function notice(text) {
    $("notice").textContent = text || "";
    show("notice", Boolean(text));
  }

  function vehicleText(vehicle) {
    const words = [vehicle.color, vehicle.make, vehicle.model].filter(Boolean).join(" ");
    const type = String(vehicle.type || "").replace(/_/g, " ");
    if (!words) return type;
    return type ? words + " (" + type + ")" : words;
  }

  function renderEta() {
    const state = tracking.state;
    const eta = state && state.live ? state.eta : null;
    show("eta", Boolean(eta));
    if (!eta) return;
    const left = eta.seconds - (performance.now() - stateReceivedAt) / 1000;
    const minutes = Math.round(left / 60);
    const soon = minutes < 1 ? "any minute now" : "in " + minutes + " min";
    $("eta-dropoff").textContent = "Delivery around " + timeText(eta.dropoff_at) + " · " + soon;
    const beforePickup = RANK[state.status] < RANK.pickup_completed && eta.pickup_at;
    show("eta-pickup", Boolean(beforePickup));
    if (beforePickup) $("eta-pickup").textContent = "Pickup around " + timeText(eta.pickup_at);
  }

  function renderTimeline(state) {
    const list = $("timeline");
    list.replaceChildren();
    state.timeline.forEach((step, index) => {
      const item = document.createElement("li");
      item.className = index === state.timeline.length - 1 ? "step current" : "step done";
      const label = document.createElement("span");
      label.textContent = STEP_TEXT[step.status] || step.status;
      item.append(label, timeElement(step.at));
      list.append(item);
    });
    if (FINISHED.includes(state.status)) return;
    const reached = RANK[state.status];
    for (const status of MILESTONES) {
      if (RANK[status] <= reached) continue;
      const item = document.createElement("li");
      item.className = "step todo";
      item.textContent = STEP_TEXT[status];
      list.append(item);
    }
  }

  function renderProof(proof) {
    show("proof-box", Boolean(proof));
    if (!proof) return;
    const image = $("proof");
    // Set once: assigning the same URL again would not refetch, but a new one would.
    if (image.getAttribute("src") !== proof.url) image.src = proof.url;
    $("proof-caption").replaceChildren("Photo taken at delivery, ", timeElement(proof.at));
  }

  function renderPanel(state) {
    $("status").textContent = STATUS_TEXT[state.status] || state.status.replace(/_/g, " ");
    document.body.dataset.status = state.status;
    renderEta();
    const driver = state.driver;
    show("driver", Boolean(driver));
    if (driver) $("driver").textContent = driver.first_name + " · " + vehicleText(driver.vehicle);
    $("pickup-label").textContent = state.pickup.label;
    $("dropoff-label").textContent = state.dropoff.label;
    show("stops", true);
    renderTimeline(state);
    renderProof(state.proof);
    // What the customer quotes to support: the only identifier on the page.
    $("reference").textContent = state.job_id;
    show("expires", Boolean(state.expires_at));
    if (state.expires_at) $("expires").replaceChildren("This link works until ", timeElement(state.expires_at));
  }

  function stopMarker(point, label, kind) {
    return L.circleMarker([point.lat, point.lng], {
      radius: 9, weight: 3, color: "#fff", fillOpacity: 1, className: "stop-" + kind,
      fillColor: kind === "pickup" ? "#2e7d32" : "#c62828",
    }).bindTooltip(label, { permanent: true, direction: "top", offset: [0, -8], className: "stop-label" });
  }

  function drawMap(state) {
    const pickup = [state.pickup.lat, state.pickup.lng];
    const dropoff = [state.dropoff.lat, state.dropoff.lng];
    if (!map) {
      map = L.map("map");
      const framed = [pickup, dropoff];
      if (state.live && state.position) framed.push([state.position.lat, state.position.lng]);
      // The view first: Leaflet cannot place a layer on a map that has none.
      map.fitBounds(framed, { padding: [48, 48], maxZoom: 16 });
      if (state.service_area.length) {
        L.polygon(state.service_area, {
          color: "#7d95ab", weight: 2, fillColor: "#f7f9fb", fillOpacity: 0.85, interactive: false,
          className: "service-area",
        }).addTo(map);
      }
      stops = {
        route: L.polyline([pickup, dropoff], {
          color: "#37474f", weight: 3, opacity: 0.7, dashArray: "6 8", interactive: false, className: "route",
        }).addTo(map),
        pickup: stopMarker(state.pickup, "Pickup", "pickup").addTo(map),
        dropoff: stopMarker(state.dropoff, "Dropoff", "dropoff").addTo(map),
      };
      // The panel grows and shrinks (a photo, a longer timeline) without any window resize.
      if (window.ResizeObserver) new ResizeObserver(() => map.invalidateSize()).observe($("map"));
    } else {
      stops.route.setLatLngs([pickup, dropoff]);
      stops.pickup.setLatLng(pickup);
      stops.dropoff.setLatLng(dropoff);
    }
    if (state.tiles && !tilesAdded) {
      tilesAdded = true;
      // The page itself sends no referrer (the token is in its address), but tile servers
      // such as OpenStreetMap's refuse requests without one: they get the origin alone.
      L.tileLayer(state.tiles.url, {
        attribution: state.tiles.attribution, maxZoom: 19, referrerPolicy: "strict-origin",
      }).addTo(map);
    }
  }

  function newer(recordedAt) {
    if (!recordedAt || !driverRecordedAt) return true;
    return Date.parse(recordedAt) >= Date.parse(driverRecordedAt);
  }

  function placeDriver(position) {
    const at = [position.lat, position.lng];
    driverRecordedAt = position.recorded_at || driverRecordedAt;
    if (driverMarker) {
      driverMarker.setLatLng(at);
      return;
    }
    driverMarker = L.circleMarker(at, {
      radius: 10, weight: 4, color: "#fff", fillColor: "#1565c0", fillOpacity: 1, className: "driver",
    }).bindTooltip("Courier", { direction: "top", offset: [0, -10] }).addTo(map);
    driverMarker.getElement().setAttribute("data-testid", "driver");
  }

  function removeDriver() {
    if (driverMarker) driverMarker.remove();
    driverMarker = null;
    driverRecordedAt = null;
  }

  function applyState(state) {
    tracking.state = state;
    stateReceivedAt = performance.now();
    renderPanel(state);
    drawMap(state);
    if (!state.live) removeDriver();
    // A state read after a status change may carry an older position than a ping already
    // applied; the marker never steps back.
    else if (state.position && newer(state.position.recorded_at)) placeDriver(state.position);
  }

  function applyPosition(position) {
    const state = tracking.state;
    if (!state || !state.live || !map) return;
    if (typeof position.lat !== "number" || typeof position.lng !== "number") return;
    if (!newer(position.recorded_at)) return;
    placeDriver(position);
    state.position = position;
    tracking.positionsSeen += 1;
  }

  function listen() {
    source = new EventSource(base + "/events");
    source.addEventListener("open", () => notice(""));
    source.addEventListener("state", (event) => applyState(JSON.parse(event.data)));
    source.addEventListener("position", (event) => applyPosition(JSON.parse(event.data)));
    source.addEventListener("end", () => {
      source.close();
      source = null;
      if (!FINISHED.includes(tracking.state.status)) notice("Live updates for this delivery have stopped.");
    });
    // EventSource reconnects by itself, and the server's first event then is the state.
    source.addEventListener("error", () => {
      if (source && source.readyState === EventSource.CONNECTING) notice("Connection lost, reconnecting…");
    });
  }

  async function start() {
    let response;
    try {
      response = await fetch(base + "/state", { headers: { Accept: "application/json" } });
    } catch (error) {
      notice("Cannot reach the server, trying again…");
      setTimeout(start, 5000);
      return;
    }
    if (!response.ok) {
      $("status").textContent = "This tracking link is not valid any more";
      notice(response.status === 404 ? "It may have expired, or the delivery was cancelled." : "");
      return;
    }
    notice("");
    applyState(await response.json());
    if (!FINISHED.includes(tracking.state.status)) listen();
    setInterval(renderEta, 15000);
  }

  start();
})();
