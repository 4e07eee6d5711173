// The example page's demo: a <spine-feed> built from the token in the URL fragment
// (#token=svt...), with a theme switch and a log of the events the element dispatches.
// A separate file because the page is served under a CSP without inline scripts.

import './spine-feed.js';

const params = new URLSearchParams(location.hash.slice(1));
const token = params.get('token');

document.getElementById('try-url').textContent = `${location.origin}/embed/example.html#token=svt...`;
document.getElementById('mint-command').textContent = document.getElementById('mint-command')
  .textContent.replace('$SPINE', location.origin);

if (token) {
  document.getElementById('no-token').hidden = true;
  document.getElementById('with-token').hidden = false;

  const feed = document.createElement('spine-feed');
  feed.setAttribute('token', token);
  if (params.get('filter')) feed.setAttribute('filter', params.get('filter'));
  document.getElementById('feed-slot').append(feed);

  const log = document.getElementById('log');
  const note = (text) => {
    const item = document.createElement('li');
    item.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
    log.prepend(item);
    while (log.children.length > 12) log.lastElementChild.remove();
  };
  feed.addEventListener('spine-unread', (e) => note(`spine-unread: ${e.detail.unread} unread, ${e.detail.unseen} unseen`));
  feed.addEventListener('spine-activity', (e) => note(`spine-activity: ${e.detail.event.summary ?? e.detail.event.type}`));
  feed.addEventListener('spine-open', (e) => note(`spine-open: ${e.detail.event.id}`));

  document.getElementById('branded').addEventListener('change', (e) => feed.classList.toggle('branded', e.target.checked));
  document.getElementById('theme').addEventListener('change', (e) => feed.setAttribute('theme', e.target.value));
}
