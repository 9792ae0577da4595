// The Roster admin console's only script: progressive enhancement, the pages work without it.
// Live tail of the sync log: the "Live tail" button (#live-tail) polls
// /console/sync-log/tail?after=ID every three seconds and puts new entries on top of the
// table (#sync-log, whose data-after holds the newest id shown). Rows are built with DOM
// methods and textContent only (never HTML from the server).
"use strict";

(function () {
  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function entryRow(e) {
    const tr = document.createElement("tr");
    const at = document.createElement("td");
    const link = document.createElement("a");
    link.href = "/console/sync-log/" + encodeURIComponent(e.id);
    link.textContent = e.at;
    at.appendChild(link);
    tr.appendChild(at);
    cell(tr, e.actor);
    cell(tr, e.action);
    cell(tr, e.resource);
    cell(tr, e.user_name);
    const st = cell(tr, "");
    const span = document.createElement("span");
    span.className = "status status-" + e.status;
    span.textContent = e.status;
    st.appendChild(span);
    cell(tr, e.http_status);
    return tr;
  }

  function liveTail() {
    const button = document.getElementById("live-tail");
    const table = document.getElementById("sync-log");
    const live = document.getElementById("live-status");
    if (!button || !table) {
      return;
    }
    let timer = null;
    async function poll() {
      const after = table.dataset.after || "";
      try {
        const resp = await fetch("/console/sync-log/tail?after=" + encodeURIComponent(after), {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (!resp.ok) {
          throw new Error("status " + resp.status);
        }
        const body = await resp.json();
        const tbody = table.tBodies[0] || table.createTBody();
        for (const e of body.entries) {
          tbody.insertBefore(entryRow(e), tbody.firstChild);
        }
        if (body.after) {
          table.dataset.after = body.after;
        }
        if (live && body.entries.length > 0) {
          live.textContent = body.entries.length + " new entries";
        }
      } catch (err) {
        if (live) {
          live.textContent = "Live tail stopped: " + err.message;
        }
        stop();
      }
    }
    function stop() {
      if (timer) {
        clearInterval(timer);
        timer = null;
      }
      button.setAttribute("aria-pressed", "false");
      button.textContent = "Live tail";
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      if (timer) {
        stop();
        return;
      }
      button.setAttribute("aria-pressed", "true");
      button.textContent = "Stop live tail";
      poll();
      timer = setInterval(poll, 3000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveTail();
  });
})();
