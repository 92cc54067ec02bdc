// The page's canvas work: the test-image grid, the sketch pad and uploaded images, each turned into 28x28 grayscale
// bytes (0 = black) light on dark, as Fashion-MNIST is, and handed to .NET (Home.razor's [JSInvokable] methods).

const Side = 28;

// Draws `count` images (784 bytes each) into `canvas` as a grid of `columns` tiles of `scale` pixels per pixel;
// a click on a tile calls dotnet.invokeMethodAsync('SelectTestImage', index).
export function drawGrid(canvas, pixels, count, columns, scale, dotnet) {
    const rows = Math.ceil(count / columns);
    const tile = Side * scale;
    canvas.width = columns * tile;
    canvas.height = rows * tile;
    const ctx = canvas.getContext('2d');
    const one = new ImageData(Side, Side);
    const scratch = document.createElement('canvas');
    scratch.width = scratch.height = Side;
    const sctx = scratch.getContext('2d');
    ctx.imageSmoothingEnabled = false;
    for (let i = 0; i < count; i++) {
        for (let p = 0; p < Side * Side; p++) {
            const v = pixels[i * Side * Side + p];
            one.data[4 * p] = one.data[4 * p + 1] = one.data[4 * p + 2] = v;
            one.data[4 * p + 3] = 255;
        }
        sctx.putImageData(one, 0, 0);
        ctx.drawImage(scratch, (i % columns) * tile, Math.floor(i / columns) * tile, tile, tile);
    }
    canvas.onclick = e => {
        const r = canvas.getBoundingClientRect();
        const x = Math.floor((e.clientX - r.left) * canvas.width / r.width / tile);
        const y = Math.floor((e.clientY - r.top) * canvas.height / r.height / tile);
        const index = y * columns + x;
        if (x >= 0 && x < columns && index < count) dotnet.invokeMethodAsync('SelectTestImage', index);
    };
}

// Shows 28x28 grayscale bytes in `canvas` (scaled by CSS).
export function showPixels(canvas, pixels) {
    canvas.width = canvas.height = Side;
    const img = new ImageData(Side, Side);
    for (let p = 0; p < Side * Side; p++) {
        img.data[4 * p] = img.data[4 * p + 1] = img.data[4 * p + 2] = pixels[p];
        img.data[4 * p + 3] = 255;
    }
    canvas.getContext('2d').putImageData(img, 0, 0);
}

// Reads `source` (a canvas or an image) into 28x28 grayscale bytes, fitted into the square and centred, the rest
// filled with `background`.
function toPixels(source, width, height, background) {
    const small = document.createElement('canvas');
    small.width = small.height = Side;
    const ctx = small.getContext('2d', { willReadFrequently: true });
    ctx.fillStyle = background;
    ctx.fillRect(0, 0, Side, Side);
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = 'high';
    const s = Side / Math.max(width, height);
    const w = width * s, h = height * s;
    ctx.drawImage(source, (Side - w) / 2, (Side - h) / 2, w, h);
    const rgba = ctx.getImageData(0, 0, Side, Side).data;
    const gray = new Uint8Array(Side * Side);
    for (let p = 0; p < gray.length; p++)
        gray[p] = Math.round(0.299 * rgba[4 * p] + 0.587 * rgba[4 * p + 1] + 0.114 * rgba[4 * p + 2]);
    return gray;
}

// The sketch pad: white strokes on black on a large canvas, scaled down to 28x28 when the stroke ends, which calls
// dotnet.invokeMethodAsync('ClassifySketch', pixels).
export function initSketch(canvas, dotnet) {
    const ctx = canvas.getContext('2d');
    const clear = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, canvas.width, canvas.height); };
    clear();
    let drawing = false;
    const at = e => {
        const r = canvas.getBoundingClientRect();
        return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
    };
    canvas.onpointerdown = e => {
        drawing = true;
        canvas.setPointerCapture(e.pointerId);
        ctx.strokeStyle = '#fff';
        ctx.lineWidth = canvas.width / 12;
        ctx.lineCap = ctx.lineJoin = 'round';
        ctx.beginPath();
        ctx.moveTo(...at(e));
        ctx.lineTo(...at(e));
        ctx.stroke();
    };
    canvas.onpointermove = e => {
        if (!drawing) return;
        ctx.lineTo(...at(e));
        ctx.stroke();
    };
    canvas.onpointerup = canvas.onpointercancel = () => {
        if (!drawing) return;
        drawing = false;
        dotnet.invokeMethodAsync('ClassifySketch', toPixels(canvas, canvas.width, canvas.height, '#000'));
    };
    return { clear };
}

export function clearSketch(canvas) {
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
}

// An uploaded image: scaled to fit 28x28 (the margin takes the colour of the image's corners), grayscale, and
// inverted if its background (the mean of the border pixels) is light, since Fashion-MNIST is light on dark. Calls
// dotnet.invokeMethodAsync('ClassifyUpload', pixels, inverted).
export function initUpload(input, dotnet) {
    input.onchange = async () => {
        const file = input.files && input.files[0];
        if (!file) return;
        const bitmap = await createImageBitmap(file);
        const probe = document.createElement('canvas');
        probe.width = bitmap.width;
        probe.height = bitmap.height;
        const pctx = probe.getContext('2d', { willReadFrequently: true });
        pctx.drawImage(bitmap, 0, 0);
        const corner = pctx.getImageData(0, 0, 1, 1).data;
        const background = `rgb(${corner[0]},${corner[1]},${corner[2]})`;
        const gray = toPixels(bitmap, bitmap.width, bitmap.height, background);
        let border = 0, n = 0;
        for (let i = 0; i < Side; i++) {
            border += gray[i] + gray[(Side - 1) * Side + i] + gray[i * Side] + gray[i * Side + Side - 1];
            n += 4;
        }
        const inverted = border / n > 127;
        if (inverted) for (let p = 0; p < gray.length; p++) gray[p] = 255 - gray[p];
        input.value = '';
        dotnet.invokeMethodAsync('ClassifyUpload', gray, inverted);
    };
}
