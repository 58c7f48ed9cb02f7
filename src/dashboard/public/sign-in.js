// sign-in.js: keeps a shared link's view through sign-in. The view lives in the #fragment, which a
// form post drops; posting to /dashboard/sign-in#view makes the browser keep the fragment across
// the server's redirect to /dashboard (a Location without a fragment inherits the request's).

const form = document.querySelector('form[action="/dashboard/sign-in"]');
if (form && window.location.hash) form.action = `/dashboard/sign-in${window.location.hash}`;
