// Sign in and register.

import { post, setSession, explain } from '../api.js';
import { h, replace, field, values, title } from '../dom.js';
import { navigate } from '../router.js';

function nextPath(query) {
  const next = query.get('next');
  return next && next.startsWith('/') && !next.startsWith('//') && next !== '/signin' && next !== '/register' ? next : null;
}

function errorLine() {
  return h('p', { class: 'form-error', role: 'alert', hidden: true, 'data-test': 'form-error' });
}

export function mountSignIn(main, _params, query) {
  title('Sign in');
  const error = errorLine();
  const submit = h('button', { type: 'submit', class: 'primary big' }, 'Sign in');
  const form = h('form', { class: 'card form', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title' }, 'Sign in'),
    field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
    error, submit,
    h('p', { class: 'hint' }, 'New here? ', h('a', { href: `/register${location.search}` }, 'Create an account')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      setSession(await post('/auth/login', values(form), { auth: false }));
      navigate(nextPath(query) ?? '/', { replace: true });
    } catch (e) {
      error.textContent = e.code === 'invalid_credentials' ? 'That email and password do not match.' : explain(e);
      error.hidden = false;
      submit.disabled = false;
    }
  });
  replace(main, h('div', { class: 'page narrow' }, form));
  form.querySelector('input').focus();
}

export function mountRegister(main, _params, query) {
  title('Create an account');
  const error = errorLine();
  const submit = h('button', { type: 'submit', class: 'primary big' }, 'Create account');
  const seller = query.get('role') === 'seller';
  const form = h('form', { class: 'card form', 'aria-labelledby': 'register-title' },
    h('h1', { id: 'register-title' }, 'Create an account'),
    field('Your name', h('input', { name: 'display_name', autocomplete: 'nickname', required: true, maxlength: '50' }), 'Shown in rooms and chat.'),
    field('Email', h('input', { name: 'email', type: 'email', autocomplete: 'email', required: true })),
    field('Password', h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: '8' }), 'At least 8 characters.'),
    h('fieldset', { class: 'roles' },
      h('legend', {}, 'I want to'),
      h('label', {}, h('input', { type: 'radio', name: 'role', value: 'buyer', checked: !seller }), ' Buy'),
      h('label', {}, h('input', { type: 'radio', name: 'role', value: 'seller', checked: seller }), ' Sell (and buy)')),
    error, submit,
    h('p', { class: 'hint' }, 'Have an account? ', h('a', { href: `/signin${location.search}` }, 'Sign in')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      const auth = await post('/auth/register', values(form), { auth: false });
      setSession(auth);
      navigate(nextPath(query) ?? (auth.user.role === 'seller' ? '/sell' : '/'), { replace: true });
    } catch (e) {
      error.textContent = explain(e);
      error.hidden = false;
      submit.disabled = false;
    }
  });
  replace(main, h('div', { class: 'page narrow' }, form));
  form.querySelector('input').focus();
}
