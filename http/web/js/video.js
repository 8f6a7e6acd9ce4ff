// A show's video through LiveKit's browser SDK, loaded (from the URL the
// server names) only for a show with video. Viewers watch; the show's
// seller publishes their camera and microphone.

import { post } from './api.js';
import { h } from './dom.js';

let sdk = null;

function loadSdk(url) {
  if (!sdk) {
    sdk = import(url).catch((e) => {
      sdk = null;
      throw e;
    });
  }
  return sdk;
}

/**
 * Join the video of `showId` into `stage`. `publish`: send the camera (the
 * seller). Resolves with {leave()}; rejects with a message when it cannot.
 */
export async function joinVideo({ showId, sdkUrl, stage, publish = false, onState }) {
  const grant = await post(`/shows/${showId}/token`);
  const LK = await loadSdk(sdkUrl);
  const room = new LK.Room({ adaptiveStream: true, dynacast: true });
  const attach = (track) => {
    const el = track.attach();
    el.classList.add(track.kind === 'video' ? 'video-track' : 'audio-track');
    if (track.kind === 'video') {
      el.setAttribute('playsinline', '');
      stage.querySelector('.video-track')?.remove();
    }
    stage.append(el);
    onState?.('playing');
  };
  room.on(LK.RoomEvent.TrackSubscribed, (track) => attach(track));
  room.on(LK.RoomEvent.TrackUnsubscribed, (track) => {
    for (const el of track.detach()) el.remove();
  });
  room.on(LK.RoomEvent.Disconnected, () => onState?.('disconnected'));
  await room.connect(grant.url, grant.token);
  onState?.('connected');
  let soundButton = null;
  if (!publish && room.canPlaybackAudio === false) {
    soundButton = h('button', {
      type: 'button',
      class: 'sound-button',
      onclick: async () => {
        await room.startAudio();
        soundButton?.remove();
      },
    }, 'Tap for sound');
    stage.append(soundButton);
  }
  if (publish) {
    await room.localParticipant.enableCameraAndMicrophone();
    const camera = room.localParticipant.getTrackPublication?.(LK.Track.Source.Camera)?.track;
    if (camera) attach(camera);
  }
  return {
    leave() {
      room.disconnect();
      soundButton?.remove();
    },
  };
}
