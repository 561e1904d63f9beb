// The sandbox thread: says when it has loaded, then runs one piece of work per message and posts the outcome back.
import { parentPort } from 'worker_threads';
import { doWork, type WorkName } from './work';

parentPort!.on('message', ({ id, name, args }: { id: number; name: WorkName; args: never }) => {
  parentPort!.postMessage({ id, outcome: doWork(name, args) });
});
parentPort!.postMessage({ ready: true });
