// korv behind the balancer: `GET /whoami` answers a request id (the body) with the peer it was
// given. SCALE_KORV_KEYS is the folder of `host_key` and `authorized_keys`, whose one line allows
// the client's key only `from="127.0.0.*,!127.0.0.1"`: a server that took the balancer's address
// for the client's would refuse every login.
import { join } from 'node:path'
import { createServer } from '@proto/korv'
import { answer, run } from './kit.mjs'

const keys = process.env.SCALE_KORV_KEYS ?? '.'
const server = createServer({
  hostKeys: [{ path: join(keys, 'host_key') }],
  authorizedKeys: { path: join(keys, 'authorized_keys') },
  handlers: {
    GET: { '/whoami': async (request, ctx) => ({ code: 200, body: await answer(request.body, ctx.remote) }) },
  },
})
await run(server)
