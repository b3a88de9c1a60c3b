// Uploads a file with the unmodified tus-js-client, configured as a phone
// app or web page would be: chunked, retrying after failures.
//
//   NODE_PATH=web/node_modules node tus-upload.js SERVER FILE
//
// Prints "accepted <offset>" each time the server acknowledges a chunk,
// then "done <upload URL>"; exits 1 with "error ..." if the upload fails.
"use strict";
const fs = require("fs");
const path = require("path");
const tus = require("tus-js-client");

const [server, file] = process.argv.slice(2);
const data = fs.readFileSync(file);

const upload = new tus.Upload(data, {
  endpoint: server + "/api/v1/uploads/",
  chunkSize: 256 * 1024,
  retryDelays: [100, 300, 500, 1000, 1000, 2000, 2000, 3000, 5000, 5000],
  metadata: { filename: path.basename(file), filetype: "audio/wav", source: "phone" },
  onChunkComplete: (chunk, accepted, total) => console.log(`accepted ${accepted} ${total}`),
  onError: (err) => {
    console.log("error " + err);
    process.exit(1);
  },
  onSuccess: () => console.log("done " + upload.url),
});
upload.start();
