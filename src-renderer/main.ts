/** Renderer entry: connect the Api client (IPC bridge or WebSocket) and mount the app. */
import { mount } from 'svelte';
import { createApiClient } from './lib/api.ts';
import './lib/styles.css';
import App from './views/App.svelte';

mount(App, { target: document.getElementById('app')!, props: { api: createApiClient() } });
