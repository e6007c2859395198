// The console's job pages (a run, an export, an erasure) work without this script: they
// show the state when opened and a button to look again. With JavaScript on, this looks
// again every two seconds, without reloading, and reloads the page once, when the job's
// state has changed. No meta refresh: nothing reloads under someone reading or typing.
(function () {
  "use strict";
  var region = document.querySelector("[data-waiting]");
  if (!region || !window.fetch || !window.DOMParser) { return; }
  var state = region.getAttribute("data-waiting");
  function look() {
    fetch(window.location.href, {credentials: "same-origin", headers: {Accept: "text/html"}})
      .then(function (answer) { return answer.text(); })
      .then(function (html) {
        var now = new DOMParser().parseFromString(html, "text/html")
          .querySelector("[data-waiting]");
        if (!now || now.getAttribute("data-waiting") !== state) {
          window.location.reload();
        } else {
          window.setTimeout(look, 2000);
        }
      })
      .catch(function () { window.setTimeout(look, 5000); });
  }
  window.setTimeout(look, 2000);
}());
