// No WebRTC in the bench: TCP peers only. simple-peer imports these names at load time.
export const RTCPeerConnection = undefined
export const RTCSessionDescription = undefined
export const RTCIceCandidate = undefined
export default {}
