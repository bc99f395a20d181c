export { sleep, waitFor } from '../../src/lab/wait.ts';
