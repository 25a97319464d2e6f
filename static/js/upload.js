// Upload progress for forms marked data-upload-progress: a progress bar with bytes sent and a
// Cancel button, through XMLHttpRequest (fetch reports no upload progress). Without this script
// the same form posts as usual. Listens on the document, so forms swapped in later work too.
(function () {
  "use strict";

  function megabytes(bytes) {
    return (bytes / 1e6).toFixed(1) + " MB";
  }

  function parts(form) {
    var box = form.querySelector(".upload-progress");
    return {
      box: box,
      bar: box.querySelector("progress"),
      text: box.querySelector(".upload-progress-text"),
      cancel: box.querySelector(".upload-cancel"),
      submit: form.querySelector("button[type=submit]")
    };
  }

  function show(ui, sent, total) {
    var percent = total ? Math.floor((sent / total) * 100) : 0;
    ui.bar.value = percent;
    ui.text.textContent = megabytes(sent) + " of " + megabytes(total) + ", " + percent + " %";
  }

  function finish(ui, message, failed) {
    ui.submit.disabled = false;
    ui.cancel.hidden = true;
    ui.text.textContent = message;
    ui.box.classList.toggle("upload-failed", Boolean(failed));
  }

  // A page the server answered with (a refused upload, an expired form): put its <main> in place
  // of ours, as the plain form post would have shown it.
  function showPage(html) {
    var page = new DOMParser().parseFromString(html, "text/html");
    var theirs = page.querySelector("main");
    var ours = document.querySelector("main");
    if (!theirs || !ours) {
      return false;
    }
    ours.replaceWith(theirs);
    document.title = page.title;
    if (window.htmx) {
      window.htmx.process(theirs);
    }
    window.scrollTo(0, 0);
    return true;
  }

  function refusalMessage(xhr) {
    var page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var message = page.querySelector(".error-message");
    return message ? message.textContent : "The file is too large.";
  }

  function answered(xhr, ui) {
    if (xhr.status === 201 && xhr.getResponseHeader("Location")) {
      ui.text.textContent = "Uploaded. Opening the job…";
      window.location.assign(xhr.getResponseHeader("Location"));
    } else if (xhr.status >= 200 && xhr.status < 300) {
      window.location.assign(xhr.responseURL);
    } else if (xhr.status === 413) {
      finish(ui, refusalMessage(xhr), true);
    } else if (!showPage(xhr.responseText)) {
      finish(ui, "The upload failed (HTTP " + xhr.status + ").", true);
    }
  }

  function tooLarge(form) {
    var limit = Number(form.dataset.maxBytes || 0);
    var files = form.querySelectorAll("input[type=file]");
    var total = 0;
    for (var i = 0; i < files.length; i++) {
      for (var j = 0; j < files[i].files.length; j++) {
        total += files[i].files[j].size;
      }
    }
    return limit && total > limit ? "The upload is larger than the limit of " + megabytes(limit) + "." : "";
  }

  function upload(form) {
    var ui = parts(form);
    var xhr = new XMLHttpRequest();
    ui.box.hidden = false;
    ui.box.classList.remove("upload-failed");
    var refused = tooLarge(form);
    if (refused) {
      finish(ui, refused, true);
      return;
    }
    ui.submit.disabled = true;
    ui.cancel.hidden = false;
    ui.bar.value = 0;
    ui.text.textContent = "Starting the upload…";
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) {
        show(ui, event.loaded, event.total);
      }
    });
    // Once every byte is sent the server keeps the file and commits the job: too late to cancel.
    xhr.upload.addEventListener("load", function () {
      ui.cancel.hidden = true;
      ui.text.textContent = ui.text.textContent + " · sent, starting the job…";
    });
    xhr.addEventListener("load", function () { answered(xhr, ui); });
    xhr.addEventListener("error", function () {
      finish(ui, "The upload failed: the connection to the server was lost.", true);
    });
    xhr.addEventListener("abort", function () { finish(ui, "Upload cancelled: nothing was started.", false); });
    ui.cancel.onclick = function () { xhr.abort(); };
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.send(new FormData(form));
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-upload-progress")) {
      return;
    }
    event.preventDefault();
    upload(form);
  });
})();
