/* Keeps a job page's progress panel (templates/admin/imports/importjob/progress.html) live: polls the admin's
   progress endpoint and writes its answer into the panel, until the job ends. Without JavaScript the panel shows
   the job as it was when the page was rendered. */
(function () {
  "use strict";

  const panel = document.querySelector("[data-import-progress]");
  if (!panel || panel.dataset.finished === "true") {
    return;
  }
  const url = panel.dataset.progressUrl;
  const bar = panel.querySelector("progress");
  const INTERVAL_MS = 2000;
  const MAX_INTERVAL_MS = 30000;
  let interval = INTERVAL_MS;

  function show(name, visible) {
    panel.querySelectorAll(`[data-show-when="${name}"]`).forEach((element) => {
      element.hidden = !visible;
    });
  }

  function render(job) {
    panel.querySelectorAll("[data-field]").forEach((element) => {
      const value = job[element.dataset.field];
      element.textContent = value === null || value === undefined ? "" : String(value);
    });
    if (job.total_rows > 0) {
      bar.max = job.total_rows;
      bar.value = job.processed_rows;
      bar.setAttribute("aria-valuemax", String(job.total_rows));
      bar.setAttribute("aria-valuenow", String(job.processed_rows));
      bar.setAttribute("aria-valuetext", `${job.processed_rows} of ${job.total_rows} rows`);
    } else if (job.finished) {
      bar.max = 1;
      bar.value = job.status === "completed" ? 1 : 0;
    }
    bar.textContent = `${job.percent}%`;
    const report = panel.querySelector('[data-href="error_report_url"]');
    if (report && job.error_report_url) {
      report.href = job.error_report_url;
    }
    show("error_report_url", Boolean(job.error_report_url));
    show("failure_reason", Boolean(job.failure_reason));
    show("cancel_requested", job.cancel_requested && !job.finished);
    show("running", !job.finished);
    show("finished", job.finished);
  }

  async function poll() {
    try {
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) {
        throw new Error(`HTTP ${response.status}`);
      }
      const job = await response.json();
      render(job);
      if (job.finished) {
        panel.dataset.finished = "true";
        return;
      }
      interval = INTERVAL_MS;
    } catch (error) {
      interval = Math.min(interval * 2, MAX_INTERVAL_MS); // the server is busy or unreachable: back off
    }
    window.setTimeout(poll, interval);
  }

  window.setTimeout(poll, interval);
})();
