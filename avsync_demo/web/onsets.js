// AudioWorklet processor: finds sound onsets in what the page plays and posts, for each, the
// sample frame (on the AudioContext's timeline) where the first sample louder than the threshold
// follows at least `quietSeconds` of quiet. Passes its input through unchanged.
class OnsetDetector extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const settings = options.processorOptions;
    this.threshold = settings.threshold;
    this.quietFrames = Math.round(settings.quietSeconds * sampleRate);
    this.lastLoud = -Infinity;
  }

  process(inputs, outputs) {
    const input = inputs[0];
    const output = outputs[0];
    for (let channel = 0; channel < output.length; channel++) {
      if (input[channel]) output[channel].set(input[channel]);
    }
    const samples = input[0];
    if (!samples) return true;
    for (let i = 0; i < samples.length; i++) {
      if (Math.abs(samples[i]) > this.threshold) {
        const frame = currentFrame + i;
        if (frame - this.lastLoud > this.quietFrames) this.port.postMessage({ frame });
        this.lastLoud = frame;
      }
    }
    return true;
  }
}

registerProcessor("onset-detector", OnsetDetector);
