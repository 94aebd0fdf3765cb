// Runs Verdaccio with the config file named on the command line, on 127.0.0.1 at a port the
// system picks, and prints `listening <url>` once it accepts requests. It exits when its stdin
// closes, so a registry never outlives the process that started it.
import process from 'node:process'
import { runServer } from 'verdaccio'

const server = await runServer(process.argv[2])
server.listen(0, '127.0.0.1', () => {
  const { address, port } = server.address()
  process.stdout.write(`listening http://${address}:${port}/\n`)
})
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
