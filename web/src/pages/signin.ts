// Sign-in with an admin token; the token stays in this browser's storage.

import { setToken, whoIs } from '../api';
import { h } from '../dom';
import { errorMessage } from '../ui';

export function signInPage(message: string, signedIn: () => void): HTMLElement {
  const input = h('input', {
    id: 'token',
    name: 'token',
    type: 'password',
    required: true,
    autocomplete: 'current-password',
    spellcheck: 'false',
    placeholder: 'pla_…',
    'aria-describedby': 'token-help',
  });
  const error = h('p', { class: 'form-error', role: 'alert', id: 'signin-error' }, message);
  const button = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'signin card',
      onsubmit: async (event: SubmitEvent) => {
        event.preventDefault();
        const candidate = input.value.trim();
        if (!candidate) return;
        button.disabled = true;
        button.textContent = 'Checking…';
        error.textContent = '';
        try {
          const me = await whoIs(candidate);
          if (me.kind !== 'admin') {
            error.textContent = 'This is a write key, which players use to send events. The dashboard needs an admin token (pla_…).';
            return;
          }
          setToken(candidate);
          signedIn();
        } catch (failure) {
          error.textContent = errorMessage(failure);
        } finally {
          button.disabled = false;
          button.textContent = 'Sign in';
        }
      },
    },
    h('h1', null, 'Sign in to pathlens'),
    h('p', { class: 'lead' }, 'Analytics of interactive videos: who played them, how far they got and which paths they took.'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h(
      'p',
      { id: 'token-help', class: 'help' },
      'Printed by ',
      h('code', null, 'pathlens demo'),
      ' or created with ',
      h('code', null, 'pathlens keys create --kind admin'),
      '. It is kept in this browser only; you see the videos of the token’s partner.',
    ),
    error,
    button,
  );
  queueMicrotask(() => input.focus());
  return h('div', { class: 'signin-wrap' }, form);
}
