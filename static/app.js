// Herald dashboard: the live parts. Every page works without this file; it adds counts that
// update while a campaign sends, the message counter, a quick check of the recipient list,
// drag and drop, and times shown in the reader's own time zone.
(function () {
  "use strict";

  // ---------------------------------------------------------------- segments (GSM-7 / UCS-2)
  // Mirrors src/domain/segments.rs: GSM-7 when every character is in the GSM 03.38 basic or
  // extension table (extension characters take 2 septets); otherwise UCS-2 in UTF-16 units.
  // 160 septets / 70 units fit in one segment, 153 / 67 in each segment of a longer message,
  // and nothing indivisible (an escape pair, a surrogate pair, a grapheme) is split.
  var GSM_BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXTENDED = "\f^{}\\[~]|€";

  function septets(ch) {
    if (GSM_BASIC.indexOf(ch) >= 0) return 1;
    if (GSM_EXTENDED.indexOf(ch) >= 0) return 2;
    return 0;
  }

  function pack(items, single, concatenated) {
    var total = 0, segments = 1, used = 0;
    for (var i = 0; i < items.length; i++) {
      var u = items[i];
      total += u;
      if (used + u > concatenated) { segments += 1; used = 0; }
      used += u;
    }
    return { units: total, segments: total <= single ? 1 : segments };
  }

  function graphemes(text) {
    if (typeof Intl !== "undefined" && Intl.Segmenter) {
      var out = [];
      var it = new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text);
      for (var s of it) {
        // CR LF counts as two items, as in Twilio's calculator.
        if (s.segment === "\r\n") { out.push("\r", "\n"); } else { out.push(s.segment); }
      }
      return out;
    }
    return Array.from(text);
  }

  function countSegments(text) {
    var chars = Array.from(text);
    var gsm = [];
    for (var i = 0; i < chars.length; i++) {
      var n = septets(chars[i]);
      if (n === 0) { gsm = null; break; }
      gsm.push(n);
    }
    if (gsm) {
      var g = pack(gsm, 160, 153);
      return { encoding: "GSM-7", segments: g.segments, units: g.units, characters: g.units };
    }
    var items = [];
    var clusters = graphemes(text);
    for (var j = 0; j < clusters.length; j++) {
      var units = clusters[j].length;
      // A cluster longer than a segment is cut at character boundaries.
      while (units > 67) {
        var cut = 0;
        var cps = Array.from(clusters[j]);
        var k = 0;
        while (k < cps.length && cut + cps[k].length <= 67) { cut += cps[k].length; k++; }
        items.push(cut);
        clusters[j] = cps.slice(k).join("");
        units = clusters[j].length;
      }
      items.push(units);
    }
    var u = pack(items, 70, 67);
    return { encoding: "UCS-2", segments: u.segments, units: u.units, characters: clusters.length };
  }
  window.heraldSegments = countSegments;

  function nonGsm(text) {
    var seen = [];
    Array.from(text).forEach(function (ch) {
      if (septets(ch) === 0 && seen.indexOf(ch) < 0) seen.push(ch);
    });
    return seen;
  }

  // ------------------------------------------------------------------------------ helpers
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  // --------------------------------------------------------------------------- local times
  var zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }

  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      t.textContent = d.toLocaleString(undefined, {
        day: "numeric", month: "short", year: "numeric",
        hour: "2-digit", minute: "2-digit", timeZoneName: "short"
      });
      t.title = t.getAttribute("datetime");
    });
  }
  localTimes(document);

  var focusMe = document.querySelector("[data-autofocus]");
  if (focusMe) focusMe.focus();

  // --------------------------------------------------------------------------- live counts
  var LABELS = { draft: "Draft", scheduled: "Scheduled", running: "Running", paused: "Paused",
                 done: "Done", failed: "Failed", cancelled: "Cancelled" };
  var FIELDS = ["total_count", "delivered_count", "failed_count", "pending_count", "cancelled_count"];

  function pct(n, total) { return total ? (n * 100 / total) : 0; }

  function updateBar(svg, c) {
    if (!svg) return;
    var d = pct(c.delivered_count, c.total_count);
    var f = pct(c.failed_count, c.total_count);
    var x = pct(c.cancelled_count, c.total_count);
    var parts = { delivered: [0, d], failed: [d, f], cancelled: [d + f, x] };
    Object.keys(parts).forEach(function (k) {
      var r = svg.querySelector('[data-part="' + k + '"]');
      if (r) { r.setAttribute("x", parts[k][0].toFixed(2)); r.setAttribute("width", parts[k][1].toFixed(2)); }
    });
    svg.setAttribute("aria-label", c.delivered_count + " of " + c.total_count + " delivered, " +
      c.failed_count + " failed, " + c.pending_count + " pending" +
      (c.cancelled_count ? ", " + c.cancelled_count + " cancelled" : ""));
  }

  function updateCounts(root, c) {
    FIELDS.forEach(function (f) {
      var cell = root.querySelector('[data-field="' + f + '"]');
      if (cell && String(cell.textContent) !== String(c[f])) cell.textContent = c[f];
    });
    var badge = root.querySelector('[data-field="status"]');
    if (badge && badge.textContent !== LABELS[c.status]) {
      badge.textContent = LABELS[c.status] || c.status;
      badge.className = "badge status status-" + c.status;
    }
    updateBar(root.querySelector("[data-bar]"), c);
  }

  function isLive(status) {
    return status === "running" || status === "scheduled" || status === "paused";
  }

  function poll(url, onData) {
    var stopped = false;
    var delay = 2000;
    function tick() {
      if (stopped) return;
      if (document.hidden) { setTimeout(tick, delay); return; }
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.status === 401) { stopped = true; throw new Error("signed out"); }
          if (!r.ok) throw new Error("HTTP " + r.status);
          return r.json();
        })
        .then(function (data) {
          delay = 2000;
          if (onData(data) === false) stopped = true;
        })
        .catch(function () { delay = Math.min(delay * 2, 30000); })
        .then(function () { if (!stopped) setTimeout(tick, delay); });
    }
    setTimeout(tick, delay);
  }

  var list = document.querySelector("[data-live-list]");
  if (list) {
    poll(list.getAttribute("data-live-list"), function (data) {
      var anyLive = false;
      (data.campaigns || []).forEach(function (c) {
        var row = list.querySelector('tr[data-campaign="' + c.campaign_id + '"]');
        if (row) updateCounts(row, c);
        if (isLive(c.status)) anyLive = true;
      });
      list.setAttribute("data-updated", String(Date.now()));
      return anyLive;
    });
  }

  var detail = document.querySelector("[data-live-campaign][data-live]");
  if (detail) {
    var startStatus = detail.getAttribute("data-status");
    poll(detail.getAttribute("data-live-campaign"), function (c) {
      updateCounts(document, c);
      detail.setAttribute("data-updated", String(Date.now()));
      if (c.status !== startStatus) {
        // The campaign moved on (started or finished): reload for its recipients and actions.
        window.location.reload();
        return false;
      }
      return isLive(c.status);
    });
  }

  // ----------------------------------------------------------------- "Send me a test" panel
  var testPanel = document.querySelector("[data-test-live][data-live]");
  if (testPanel) {
    poll(testPanel.getAttribute("data-test-live"), function (t) {
      var badge = testPanel.querySelector("[data-test-status]");
      if (badge) {
        badge.textContent = t.label;
        badge.className = "badge status status-" + t.badge;
        badge.setAttribute("data-test-status", t.status);
      }
      var err = testPanel.querySelector("[data-test-error]");
      if (err) err.textContent = t.error || "";
      testPanel.setAttribute("data-updated", String(Date.now()));
      return !t.terminal;
    });
  }

  // ------------------------------------------------------------------------ message counter
  document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
    var out = document.getElementById(area.getAttribute("data-counter"));
    if (!out) return;
    function update() {
      var text = area.value;
      var c = countSegments(text);
      var per = c.encoding === "GSM-7" ? (c.segments === 1 ? 160 : 153) : (c.segments === 1 ? 70 : 67);
      var left = c.segments * per - c.units;
      var msg = plural(Array.from(text).length, "character", "characters") + " · " + c.encoding +
        " · " + plural(c.segments, "segment", "segments") + " (" + left + " left in this segment)";
      var odd = nonGsm(text);
      if (odd.length) {
        msg += ". Not in the GSM alphabet: " + odd.slice(0, 5).join(" ") +
          " — each segment holds 70 characters instead of 160.";
      }
      if (/\{\{/.test(text)) msg += " Placeholders are counted as written; the preview counts each real message.";
      out.textContent = msg;
      out.setAttribute("data-segments", String(c.segments));
      out.setAttribute("data-encoding", c.encoding);
    }
    area.addEventListener("input", update);
    update();
  });

  // ------------------------------------------------------------- new campaign: quick check
  var form = document.getElementById("new-campaign");
  if (form) {
    var panel = document.getElementById("live-check");
    var fileInput = document.getElementById("recipients_file");
    var fileName = form.querySelector("[data-file-name]");
    var timer = null;
    var seq = 0;
    var MAX_CHECK_BYTES = 1024 * 1024;

    var render = function (a) {
      panel.textContent = "";
      panel.hidden = false;
      if (a.problem) {
        panel.appendChild(el("p", { "class": "error-message", text: a.problem }));
        return;
      }
      if (!a.count && !a.error_count) { panel.hidden = true; return; }
      var head = plural(a.count, "recipient", "recipients") + " found";
      if (a.phone_column) head += " (phone numbers in column “" + a.phone_column + "”)";
      panel.appendChild(el("h2", { text: head }));
      if (a.variables && a.variables.length) {
        panel.appendChild(el("p", { text: "Variables for your message: " +
          a.variables.map(function (v) { return "{{" + v + "}}"; }).join(", ") }));
      }
      if (a.duplicates) panel.appendChild(el("p", { text: plural(a.duplicates, "number appears", "numbers appear") + " twice: sent once." }));
      if (a.error_count) {
        panel.appendChild(el("p", { "class": "error-message", text: plural(a.error_count, "row is not a phone number we can send to", "rows are not phone numbers we can send to") + ":" }));
        var ul = el("ul", {});
        a.errors.forEach(function (e) {
          ul.appendChild(el("li", { text: "Line " + e.line + ": “" + e.value + "” — " + e.reason }));
        });
        panel.appendChild(ul);
      }
      if (a.samples && a.samples.length) {
        panel.appendChild(el("h3", { text: "The first messages" }));
        var dl = el("dl", { "class": "samples" });
        a.samples.forEach(function (s) {
          dl.appendChild(el("dt", { text: s.phone + " · " + plural(s.segments, "segment", "segments") + " · " + s.encoding }));
          var dd = el("dd", {}, [el("span", { "class": "sample-body", text: s.body })]);
          if (s.missing && s.missing.length) {
            dd.appendChild(el("span", { "class": "note", text: " No value for " + s.missing.map(function (m) { return "{{" + m + "}}"; }).join(", ") }));
          }
          dl.appendChild(dd);
        });
        panel.appendChild(dl);
      }
      panel.appendChild(el("p", { "class": "hint", text: "Continue to the preview to see every recipient." }));
    };

    var check = function () {
      var f = fileInput && fileInput.files && fileInput.files[0];
      if (f && f.size > MAX_CHECK_BYTES) {
        panel.hidden = false;
        panel.textContent = "";
        panel.appendChild(el("p", { text: "Large file chosen (" + Math.round(f.size / 1024) + " KB): the preview will check every row." }));
        return;
      }
      var mine = ++seq;
      fetch(form.getAttribute("data-check-url"), { method: "POST", body: new FormData(form), credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
        .then(function (a) { if (mine === seq) render(a); })
        .catch(function () { /* the preview will show everything */ });
    };
    var later = function () { clearTimeout(timer); timer = setTimeout(check, 500); };
    ["recipients_text", "message_template", "default_country"].forEach(function (id) {
      var input = document.getElementById(id);
      if (input) { input.addEventListener("input", later); input.addEventListener("change", later); }
    });
    form.querySelectorAll('input[name="from_numbers"]').forEach(function (i) { i.addEventListener("change", later); });

    var showFile = function () {
      var f = fileInput.files && fileInput.files[0];
      if (fileName) fileName.textContent = f ? "Chosen: " + f.name + " (" + Math.max(1, Math.round(f.size / 1024)) + " KB)" : "";
      later();
    };
    if (fileInput) fileInput.addEventListener("change", showFile);

    var zone = form.querySelector("[data-dropzone]");
    if (zone && fileInput) {
      ["dragenter", "dragover"].forEach(function (ev) {
        zone.addEventListener(ev, function (e) { e.preventDefault(); zone.classList.add("dragging"); });
      });
      ["dragleave", "drop"].forEach(function (ev) {
        zone.addEventListener(ev, function () { zone.classList.remove("dragging"); });
      });
      zone.addEventListener("drop", function (e) {
        e.preventDefault();
        if (e.dataTransfer && e.dataTransfer.files && e.dataTransfer.files.length) {
          fileInput.files = e.dataTransfer.files;
          showFile();
        }
      });
    }
    if ((document.getElementById("recipients_text") || {}).value) later();
  }

  // ------------------------------------------------------------------- preview: send form
  var send = document.getElementById("send-form");
  if (send) {
    var button = send.querySelector("[data-send-button]");
    var n = Number(send.getAttribute("data-sendable") || "0");
    var at = document.getElementById("scheduled_at");
    var offset = send.querySelector("[data-tz-offset]");
    var tzName = send.querySelector("[data-tz-name]");
    if (tzName && zone) tzName.textContent = zone + " (your computer’s time zone)";
    var label = function () {
      var when = (send.querySelector('input[name="when"]:checked') || {}).value;
      if (when === "schedule") button.textContent = "Schedule " + plural(n, "message", "messages");
      else if (when === "draft") button.textContent = "Save as draft";
      else button.textContent = "Send " + plural(n, "message", "messages") + " now";
    };
    send.querySelectorAll('input[name="when"]').forEach(function (r) { r.addEventListener("change", label); });
    if (at) {
      at.addEventListener("input", function () {
        if (at.value) {
          var later = document.getElementById("when-schedule");
          var draft = document.getElementById("when-draft");
          if (later && !(draft && draft.checked)) later.checked = true;
          label();
        }
      });
    }
    send.addEventListener("submit", function () {
      if (at && at.value && offset) {
        var local = new Date(at.value);
        if (!isNaN(local.getTime())) offset.value = String(-local.getTimezoneOffset());
      }
      // One click is enough: further clicks while the page loads do nothing.
      button.disabled = true;
      setTimeout(function () { button.disabled = false; }, 5000);
    });
    label();
  }

  // ------------------------------------------------------------------------ small things
  document.querySelectorAll("[data-copy]").forEach(function (b) {
    b.addEventListener("click", function () {
      var input = document.getElementById(b.getAttribute("data-copy"));
      if (!input) return;
      input.select();
      var done = function () { b.textContent = "Copied"; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else { document.execCommand("copy"); done(); }
    });
  });
  document.querySelectorAll("[data-select-on-focus]").forEach(function (i) {
    i.addEventListener("focus", function () { i.select(); });
  });
})();
