// Starts Swagger UI on /api/v1/docs. A file rather than an inline script, so the page's
// Content-Security-Policy can forbid inline scripts (script-src 'self').
(function () {
  "use strict";
  var csrfToken = null;
  window.addEventListener("load", function () {
    window.ui = window.SwaggerUIBundle({
      url: document.body.getAttribute("data-spec-url"),
      dom_id: "#swagger-ui",
      deepLinking: true,
      // No call to the public validator service: the docs work offline.
      validatorUrl: null,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      // "Try it out" with the browser's session cookie: remember the CSRF token that
      // POST /api/v1/auth/login returns and send it as X-CSRF-Token on every change.
      responseInterceptor: function (res) {
        if (res && res.url && /\/api\/v1\/auth\/login$/.test(res.url) && res.body &&
            res.body.csrf_token) {
          csrfToken = res.body.csrf_token;
        }
        return res;
      },
      requestInterceptor: function (req) {
        if (csrfToken && req.method && !/^(GET|HEAD|OPTIONS)$/i.test(req.method)) {
          req.headers["X-CSRF-Token"] = csrfToken;
        }
        return req;
      },
    });
  });
})();
