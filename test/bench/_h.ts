import { benchHttpLogin } from './http-login.ts';
const r = await benchHttpLogin({ warmup: 100, rounds: 4, perRound: 250 });
console.log('acs median', r.acs.medianUs, 'login', r.login.medianUs, r.lastError);
