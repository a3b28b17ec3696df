// The operator's pages. The upload form: files over the upload limit are refused before they are
// sent (the server refuses them too). The progress page: asks how far the change has got once a
// second and shows it in place (without JS the page reloads itself); once the change is done or
// failed, reloads the page to show the outcome.
"use strict";
(function () {
  const form = document.getElementById("upload");
  if (!form) return;
  const input = form.querySelector('input[type="file"]');
  const alert = document.getElementById("too-big");
  form.addEventListener("submit", (event) => {
    const files = Array.from(input.files || []);
    const size = files.reduce((sum, file) => sum + file.size, 0);
    let problem = "";
    if (files.length > Number(form.dataset.maxFiles)) problem = form.dataset.tooMany;
    else if (size > Number(form.dataset.maxBytes)) problem = form.dataset.tooBig.replace("{size}", (size / 1e6).toFixed(1));
    if (!problem) return;
    event.preventDefault();
    alert.textContent = problem;
    alert.hidden = false;
    input.focus();
  });
})();
(function () {
  const job = document.getElementById("job");
  if (!job || job.dataset.state !== "running") return;
  const message = document.getElementById("job-message");
  const bar = document.getElementById("job-progress");
  const left = document.getElementById("job-left");
  const template = left ? left.dataset.template : "";

  async function poll() {
    let status;
    try {
      const response = await fetch(job.dataset.statusUrl, {headers: {accept: "application/json"}, cache: "no-store"});
      if (!response.ok) throw new Error(String(response.status));
      status = await response.json();
    } catch (error) {
      setTimeout(poll, 3000);  // the server is busy or restarting: try again, a little later
      return;
    }
    if (status.state !== "running") {
      location.reload();
      return;
    }
    if (message.textContent !== status.message) message.textContent = status.message;
    if (bar) {
      bar.max = status.total || 1;
      if (status.total) bar.value = status.done; else bar.removeAttribute("value");
    }
    if (left) left.textContent = status.seconds_left && template ? template.replace("{seconds}", status.seconds_left) : "";
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
