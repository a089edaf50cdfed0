/* Progressive enhancements only: every page works without JavaScript. */
(function () {
  "use strict";
  // After a refused submission, move the focus to the error summary so screen readers announce it.
  var summary = document.getElementById("resume-erreurs");
  if (summary) { summary.focus(); }
}());
