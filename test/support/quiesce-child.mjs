// Child process for the always-resume tests: opens a backup window on a container and then waits to be
// killed, signalled, or to exit on its own. Uses the built module (dist/), as the CLI would.
//   node quiesce-child.mjs '{"container":"…","mode":"stop","stateDir":"…","how":"hold|guarded|exit"}'
//   hold     quiesce(), print QUIESCED, wait forever (for SIGKILL)
//   guarded  withQuiesced(), print QUIESCED, wait forever inside it (for SIGTERM/SIGINT)
//   exit     quiesce(), print QUIESCED, then process.exit(3) without resuming
// DOCKER_HOST comes from the environment.
import { connectDocker, quiesce, withQuiesced } from '../../dist/docker/index.js';

const args = JSON.parse(process.argv[2]);
const client = await connectDocker();
const forever = () => new Promise(() => setInterval(() => {}, 1_000));

if (args.how === 'hold') {
  await quiesce(client, args.container, args.mode, { stateDir: args.stateDir, timeoutS: 5 });
  process.stdout.write('QUIESCED\n');
  await forever();
} else if (args.how === 'guarded') {
  await withQuiesced(client, args.container, args.mode, { stateDir: args.stateDir, timeoutS: 5 }, async () => {
    process.stdout.write('QUIESCED\n');
    await forever();
  });
} else if (args.how === 'exit') {
  await quiesce(client, args.container, args.mode, { stateDir: args.stateDir, timeoutS: 5 });
  process.stdout.write('QUIESCED\n');
  setTimeout(() => process.exit(3), 50);
} else {
  throw new Error(`unknown how: ${args.how}`);
}
