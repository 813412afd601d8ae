// Progressive enhancement: a "Copy" button beside each read-only URL or secret field.
// Without JavaScript the buttons stay hidden and the field can be selected and copied by hand.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      field.select();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(done);
      } else if (document.execCommand("copy")) {
        done();
      }
    });
  });
});
