import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ICONS, iconName } from '../embed/lib/icons.js';
import { PICKABLE } from '../ui/admin-types.js';

test('the set holds every icon a type may name', () => {
  const required = ['check', 'plus', 'edit', 'trash', 'user', 'users', 'bot', 'server', 'bell', 'mail',
    'phone', 'message', 'file', 'calendar', 'tag', 'alert', 'star', 'rocket', 'bug', 'git', 'dollar',
    'lock', 'clock', 'eye', 'archive', 'inbox', 'link', 'zap'];
  for (const name of required) assert.ok(PICKABLE.includes(name), name);
  for (const [name, paths] of Object.entries(ICONS)) {
    assert.ok(paths.length > 0, name);
    for (const d of paths) assert.match(d, /^M[\d\s.,\-a-zA-Z]+$/, `${name}: ${d}`);
  }
});

test('a registered icon wins; otherwise the action, then the actor kind, then a dot', () => {
  assert.equal(iconName({ action: 'created' }, { icon: 'rocket' }), 'rocket');
  assert.equal(iconName({ action: 'created' }, { icon: 'no-such-icon' }), 'plus');
  assert.equal(iconName({ action: 'created' }, { icon: 'constructor' }), 'plus', 'not an inherited property');
  assert.equal(iconName({ action: 'deleted' }), 'trash');
  assert.equal(iconName({ action: 'updated' }), 'edit');
  assert.equal(iconName({ action: 'state_changed' }), 'zap');
  assert.equal(iconName({ action: 'custom', actor: { kind: 'agent' } }), 'bot');
  assert.equal(iconName({ action: 'custom', actor: { kind: 'system' } }), 'server');
  assert.equal(iconName({ action: 'custom', actor: { kind: 'user' } }), 'dot');
  assert.equal(iconName({ action: 'custom' }), 'dot');
});
