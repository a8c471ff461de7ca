// ink decides once, when it is first imported, whether it runs "in CI" (the CI or
// CONTINUOUS_INTEGRATION variable is set): there it draws nothing until the program exits. A
// person who runs chatzyo at a terminal from a shell that exports CI=1 (dev containers, CI
// debug shells) would then see a blank screen for the whole call. We only mount a live view
// when stdout is a TTY, so a live view is what was asked for: tell ink so before it loads.
// (Children such as ffmpeg inherit the change; none of them reads these variables.)

/** Load a module that imports ink, after making sure ink will draw live frames. */
export async function importLiveView<T>(load: () => Promise<T>): Promise<T> {
  for (const name of ['CI', 'CONTINUOUS_INTEGRATION']) {
    if (name in process.env) process.env[name] = 'false';
  }
  return load();
}
