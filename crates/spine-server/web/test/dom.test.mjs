// The timing helpers of dom.js, on Node's mock clock.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { debounce, throttle } from '../embed/lib/dom.js';

test('throttle runs once per burst and is never starved by a steady stream', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let runs = 0;
    const refresh = throttle(() => { runs += 1; }, 300);
    // A call every 100 ms for 2 s: a debounce would never run; the throttle runs every 300 ms.
    for (let t = 0; t < 2000; t += 100) {
      refresh();
      mock.timers.tick(100);
    }
    assert.ok(runs >= 6 && runs <= 7, `ran ${runs} times`);
    mock.timers.tick(1000);
    const settled = runs;
    mock.timers.tick(1000);
    assert.equal(runs, settled, 'nothing more without calls');
  } finally {
    mock.timers.reset();
  }
});

test('debounce runs once after the burst ends', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let runs = 0;
    const save = debounce(() => { runs += 1; }, 300);
    for (let i = 0; i < 10; i++) {
      save();
      mock.timers.tick(100);
    }
    assert.equal(runs, 0);
    mock.timers.tick(300);
    assert.equal(runs, 1);
  } finally {
    mock.timers.reset();
  }
});
