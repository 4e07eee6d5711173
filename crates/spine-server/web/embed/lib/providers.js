// The providers events come in from (SPEC section 6): their names and marks, simple stroke
// drawings on the icons' 24x24 grid, drawn for Spine (no logo is copied or fetched). An event
// whose `source.system` names one shows its mark in the feed and the detail. Loaded on first
// use (feed-view.js imports it when an item has a source), so the feed's first view stays light.

import { createIcon } from './icons.js';
import { srOnly } from './dom.js';

/** Each provider's label and drawing, by the wire name channels and events use. */
export const PROVIDERS = {
  generic: {
    label: 'Generic JSON',
    paths: ['M8 4H7a2 2 0 0 0-2 2v4l-2 2 2 2v4a2 2 0 0 0 2 2h1', 'M16 4h1a2 2 0 0 1 2 2v4l2 2-2 2v4a2 2 0 0 1-2 2h-1'],
  },
  'standard-webhooks': {
    label: 'Standard Webhooks',
    paths: ['M12 3.5a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z', 'M6 15.5a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z',
      'M18 15.5a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z', 'M10.8 8.2 7.2 15.8', 'M13.2 8.2l3.6 7.6', 'M8.5 18h7'],
  },
  cloudevents: {
    label: 'CloudEvents',
    paths: ['M7 19h10a4 4 0 0 0 .6-8A6 6 0 0 0 6 10a4.5 4.5 0 0 0 1 9z', 'M12.5 11.5l-2 3h3l-2 3'],
  },
  github: {
    label: 'GitHub',
    paths: ['M5 11c0-1.6.4-3 1.2-4L6 3l3.2 1.8a8.5 8.5 0 0 1 5.6 0L18 3l-.2 4c.8 1 1.2 2.4 1.2 4 0 3.9-2.7 6-7 6s-7-2.1-7-6z',
      'M9.5 11.5h.01', 'M14.5 11.5h.01', 'M10 17v4', 'M14 17v4', 'M10 19c-2.5.5-3.5-.5-4.5-2'],
  },
  stripe: {
    label: 'Stripe',
    paths: ['M4 3h16v18H4z', 'M15.5 8.5C14.8 7.6 13.6 7 12 7c-1.9 0-3.2.9-3.2 2.3 0 3.3 7 1.9 7 5.4 0 1.5-1.5 2.6-3.6 2.6-1.7 0-3.1-.6-4-1.6'],
  },
  twilio: {
    label: 'Twilio',
    paths: ['M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z', 'M9.5 8a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z',
      'M14.5 8a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z', 'M9.5 13a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z',
      'M14.5 13a1.5 1.5 0 1 0 0 3 1.5 1.5 0 0 0 0-3z'],
  },
  postmark: {
    label: 'Postmark',
    paths: ['M3 8h13v11H3z', 'M3 8l6.5 5L16 8', 'M18.5 3a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5z', 'M16.5 10.5c1 .8 2 .8 3 0s2-.8 3 0'],
  },
  hubspot: {
    label: 'HubSpot',
    paths: ['M15 10.5a3 3 0 1 0 0 6 3 3 0 0 0 0-6z', 'M15 10.5V6', 'M13.5 4.5h3', 'M12.8 15.6 8 20',
      'M12.4 12 6.5 8', 'M5 5.5a2 2 0 1 0 0 4 2 2 0 0 0 0-4z'],
  },
  salesforce: {
    label: 'Salesforce',
    paths: ['M6.5 18a4 4 0 0 1-.9-7.9 4.5 4.5 0 0 1 7.8-3A3.5 3.5 0 0 1 19 9.5a4.3 4.3 0 0 1-1 8.5z'],
  },
  'claude-code': {
    label: 'Claude Code',
    paths: ['M3 5h18v14H3z', 'M7 10l3 2-3 2', 'M12.5 15h4.5'],
  },
  file: {
    label: 'File upload',
    paths: ['M6 3h8l5 5v13H6z', 'M14 3v5h5', 'M12 18v-6', 'M9.5 14.5 12 12l2.5 2.5'],
  },
};

/** The provider a `source.system` names, or null (an own-name system is no provider). */
export function providerOf(system) {
  return typeof system === 'string' && Object.hasOwn(PROVIDERS, system) ? { name: system, ...PROVIDERS[system] } : null;
}

/** The provider's mark as an <svg> (decorative: the caller says the name in text). */
export function createProviderIcon(name, className = 'icon provider-icon') {
  return createIcon(null, className, PROVIDERS[name]?.paths ?? []);
}

/**
 * Fills a feed item's `.feed-provider` placeholder (its `data-provider` names the system):
 * the mark, its name for readers and as a tooltip; removes it when the system is no provider.
 */
export function drawMark(mark) {
  const provider = providerOf(mark.dataset.provider);
  if (!provider) {
    mark.remove();
    return;
  }
  mark.title = `From ${provider.label}`;
  // Sized by attributes, so it draws right inside <spine-feed>'s shadow root as well.
  const svg = createProviderIcon(provider.name, 'provider-icon');
  svg.setAttribute('width', '14');
  svg.setAttribute('height', '14');
  svg.setAttribute('display', 'block');
  mark.replaceChildren(svg, srOnly(`from ${provider.label}`));
}
