// The built-in icon set: simple stroke drawings on a 24x24 grid, drawn for Spine so nothing
// is fetched from elsewhere. Types name an icon by its key; `iconName` picks a fallback from
// the event itself when a type names none or one that is not here.

/** Each icon is a list of SVG path data, stroked with the current colour. */
export const ICONS = {
  check: ['M20 6 9 17l-5-5'],
  plus: ['M12 5v14', 'M5 12h14'],
  edit: ['M4 20h4L19 9l-4-4L4 16z', 'M13.5 6.5l4 4'],
  trash: ['M4 7h16', 'M9 7V4h6v3', 'M6 7l1 13h10l1-13', 'M10 11v6', 'M14 11v6'],
  user: ['M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z', 'M4 21a8 8 0 0 1 16 0'],
  users: ['M9 11.5a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7z', 'M2 20a7 7 0 0 1 14 0',
    'M16 4.6a3.5 3.5 0 0 1 0 6.8', 'M18.5 14a6.5 6.5 0 0 1 3.5 6'],
  bot: ['M6 8h12a2 2 0 0 1 2 2v8a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2v-8a2 2 0 0 1 2-2z',
    'M12 8V4', 'M10 4h4', 'M9 13v2', 'M15 13v2', 'M2 13v3', 'M22 13v3'],
  server: ['M4 4h16v7H4z', 'M4 13h16v7H4z', 'M8 7.5h.01', 'M8 16.5h.01', 'M12 7.5h4', 'M12 16.5h4'],
  bell: ['M6 16v-5a6 6 0 0 1 12 0v5l2 2H4z', 'M10 21h4'],
  mail: ['M3 6h18v12H3z', 'M3 6l9 7 9-7'],
  phone: ['M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2z'],
  message: ['M4 5h16v11H9l-5 4z', 'M8 9h8', 'M8 12h5'],
  file: ['M6 3h8l5 5v13H6z', 'M14 3v5h5', 'M9 13h6', 'M9 17h6'],
  calendar: ['M4 6h16v15H4z', 'M4 10h16', 'M8 3v4', 'M16 3v4'],
  tag: ['M3 12V3h9l9 9-9 9z', 'M7.5 7.5h.01'],
  alert: ['M12 3 2 20h20z', 'M12 10v4', 'M12 17h.01'],
  star: ['M12 3l2.8 5.7 6.2.9-4.5 4.4 1.1 6.2-5.6-3-5.6 3 1.1-6.2L3 9.6l6.2-.9z'],
  rocket: ['M12 15l-3-3c1.5-5 5-8 11-8 0 6-3 9.5-8 11z', 'M9 12H5l2-4h4', 'M12 15v4l4-2v-4',
    'M6.5 16.5C5 17.5 4.5 19.5 4.5 19.5s2-.5 3-2'],
  bug: ['M8 10a4 4 0 0 1 8 0v5a4 4 0 0 1-8 0z', 'M9.5 6.5 8 4', 'M14.5 6.5 16 4', 'M4 13h4',
    'M16 13h4', 'M5 8l3 2', 'M19 8l-3 2', 'M5 19l3-2', 'M19 19l-3-2', 'M12 10v9'],
  git: ['M6 3a2 2 0 1 0 0 4 2 2 0 0 0 0-4z', 'M6 17a2 2 0 1 0 0 4 2 2 0 0 0 0-4z',
    'M18 5a2 2 0 1 0 0 4 2 2 0 0 0 0-4z', 'M6 7v10', 'M18 9c0 5-8 4-11.5 8.5'],
  dollar: ['M12 2v20', 'M17 6H9.5a3.5 3.5 0 0 0 0 7h5a3.5 3.5 0 0 1 0 7H6'],
  lock: ['M5 11h14v10H5z', 'M8 11V7a4 4 0 0 1 8 0v4', 'M12 15v2'],
  clock: ['M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z', 'M12 7v5l3 3'],
  eye: ['M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z', 'M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z'],
  archive: ['M3 4h18v4H3z', 'M5 8v12h14V8', 'M10 12h4'],
  inbox: ['M3 13h5l2 3h4l2-3h5', 'M5.5 5h13L21 13v6H3v-6z'],
  link: ['M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1', 'M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1'],
  zap: ['M13 2 4 14h7l-1 8 9-12h-7z'],
  dot: ['M12 9a3 3 0 1 0 0 6 3 3 0 0 0 0-6z'],
  x: ['M6 6l12 12', 'M18 6 6 18'],
};

const BY_ACTION = { created: 'plus', updated: 'edit', deleted: 'trash', state_changed: 'zap' };
const BY_ACTOR_KIND = { agent: 'bot', system: 'server', service: 'server' };

/**
 * The icon for an event: its type's registered icon if the set has it, else one that says what
 * kind of change it was (created -> plus, ...), else who made it (an agent -> bot), else a dot.
 */
export function iconName(event, typeInfo) {
  const registered = typeInfo?.icon;
  if (registered && Object.hasOwn(ICONS, registered)) return registered;
  return BY_ACTION[event?.action] ?? BY_ACTOR_KIND[event?.actor?.kind] ?? 'dot';
}

const SVG = 'http://www.w3.org/2000/svg';

/** An <svg> for the named icon (a dot when unknown), or of `paths`; decorative, so hidden from readers. */
export function createIcon(name, className = 'icon', paths = ICONS[name] ?? ICONS.dot) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', className);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  // Presentation attributes, not a style attribute: the drawing is right before any
  // stylesheet arrives, and a content security policy has no say over them.
  svg.setAttribute('fill', 'none');
  svg.setAttribute('stroke', 'currentColor');
  svg.setAttribute('stroke-width', '2');
  svg.setAttribute('stroke-linecap', 'round');
  svg.setAttribute('stroke-linejoin', 'round');
  for (const d of paths) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}
