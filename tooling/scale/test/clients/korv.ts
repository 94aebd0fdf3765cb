// korv's client: an SSH connection from the given local address, `GET /whoami` with the id as
// the body. The keys are made once per file; the client key is allowed only from="127.0.0.*" and
// never from the balancer's 127.0.0.1, so korv's from= check sees the PROXY header's client.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { connect } from '@proto/korv'
import { utils } from 'ssh2'
import { temporaryDirectory } from '../cleanup.ts'
import type { Answer, ScaleProtocol } from '../protocol.ts'
import { connectedSocket, localEnd } from '../protocol.ts'

const hostKey = utils.generateKeyPairSync('ed25519')
const clientKey = utils.generateKeyPairSync('ed25519')

export const korv: ScaleProtocol = {
  name: 'korv',
  backend: 'korv.mjs',
  mode: 'tcp',
  async backendEnv() {
    const dir = await temporaryDirectory('proto-scale-korv-')
    await writeFile(join(dir, 'host_key'), hostKey.private, { mode: 0o600 })
    await writeFile(join(dir, 'authorized_keys'), `from="127.0.0.*,!127.0.0.1" ${clientKey.public}\n`)
    return { SCALE_KORV_KEYS: dir }
  },
  async connect(port, localAddress) {
    const socket = await connectedSocket(port, localAddress)
    const local = localEnd(socket)
    const client = await connect({ socket, privateKey: clientKey.private, insecureAcceptAnyHostKey: true })
    return {
      async request(id) {
        const reply = await client.get('/whoami', id)
        return { answer: reply.body as Answer, local }
      },
      close: () => client.close(),
    }
  },
}
