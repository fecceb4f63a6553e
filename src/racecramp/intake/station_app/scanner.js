/* Reading a QR code or barcode with the camera: the browser's BarcodeDetector where it has
 * one for the wanted formats, else ZXing (vendored, loaded on first use). Typing is always
 * possible; this only saves the typing.
 */
"use strict";

const StationScanner = (() => {
  const ZXING_SRC = "vendor/zxing-library-0.23.0.min.js";
  const FRAME_INTERVAL_MS = 150;
  const MAX_FRAME_WIDTH = 960;
  // BarcodeDetector's format names and ZXing's for the same symbologies.
  const ZXING_FORMATS = {
    qr_code: "QR_CODE", code_128: "CODE_128", code_39: "CODE_39", ean_13: "EAN_13", ean_8: "EAN_8",
    upc_a: "UPC_A", itf: "ITF", data_matrix: "DATA_MATRIX",
  };
  const TOKEN_FORMATS = ["qr_code"];
  const BIB_FORMATS = ["qr_code", "code_128", "code_39", "ean_13", "ean_8", "upc_a", "itf", "data_matrix"];

  let zxingLoading = null;

  function cameraAvailable() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  function loadZxing() {
    if (window.ZXing) return Promise.resolve(window.ZXing);
    if (!zxingLoading) {
      zxingLoading = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = ZXING_SRC;
        script.onload = () => resolve(window.ZXing);
        script.onerror = () => { zxingLoading = null; reject(new Error("the barcode reader could not be loaded")); };
        document.head.appendChild(script);
      });
    }
    return zxingLoading;
  }

  async function nativeDetector(formats) {
    if (!("BarcodeDetector" in window)) return null;
    const supported = await window.BarcodeDetector.getSupportedFormats();
    const wanted = formats.filter((f) => supported.includes(f));
    if (wanted.length === 0) return null;
    const detector = new window.BarcodeDetector({ formats: wanted });
    return async (canvas) => {
      const found = await detector.detect(canvas);
      return found.length ? found[0].rawValue : null;
    };
  }

  async function zxingDetector(formats) {
    const ZXing = await loadZxing();
    const hints = new Map();
    hints.set(ZXing.DecodeHintType.POSSIBLE_FORMATS, formats.map((f) => ZXing.BarcodeFormat[ZXING_FORMATS[f]]));
    hints.set(ZXing.DecodeHintType.TRY_HARDER, true);
    const reader = new ZXing.MultiFormatReader();
    reader.setHints(hints);
    const nothingHere = [ZXing.NotFoundException, ZXing.ChecksumException, ZXing.FormatException];
    return async (canvas) => {
      const { width, height } = canvas;
      const rgba = canvas.getContext("2d", { willReadFrequently: true }).getImageData(0, 0, width, height).data;
      const luminance = new Uint8ClampedArray(width * height);
      for (let i = 0, p = 0; p < luminance.length; i += 4, p += 1) {
        luminance[p] = (rgba[i] * 77 + rgba[i + 1] * 150 + rgba[i + 2] * 29) >> 8;
      }
      const bitmap = new ZXing.BinaryBitmap(new ZXing.HybridBinarizer(new ZXing.RGBLuminanceSource(luminance, width, height)));
      try {
        return reader.decodeWithState(bitmap).getText();
      } catch (error) {
        if (nothingHere.some((kind) => error instanceof kind)) return null;
        throw error;
      } finally {
        reader.reset();
      }
    };
  }

  async function detector(formats) {
    return (await nativeDetector(formats)) || zxingDetector(formats);
  }

  // Opens the back camera in `video` and resolves with the first code read; rejects when
  // `signal` aborts (Cancel) or the camera cannot be opened. The camera is always released.
  async function scan(video, formats, signal) {
    const detect = await detector(formats);
    const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: "environment" } }, audio: false });
    const canvas = document.createElement("canvas");
    const context = canvas.getContext("2d", { willReadFrequently: true });
    try {
      video.srcObject = stream;
      await video.play();
      while (true) {
        if (signal.aborted) throw new DOMException("scan cancelled", "AbortError");
        if (video.videoWidth > 0) {
          const scale = Math.min(1, MAX_FRAME_WIDTH / video.videoWidth);
          canvas.width = Math.round(video.videoWidth * scale);
          canvas.height = Math.round(video.videoHeight * scale);
          context.drawImage(video, 0, 0, canvas.width, canvas.height);
          const text = await detect(canvas);
          if (text) return text;
        }
        await new Promise((resolve) => setTimeout(resolve, FRAME_INTERVAL_MS));
      }
    } finally {
      stream.getTracks().forEach((track) => track.stop());
      video.srcObject = null;
    }
  }

  return { TOKEN_FORMATS, BIB_FORMATS, cameraAvailable, scan };
})();
