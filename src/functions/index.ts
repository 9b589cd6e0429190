/** Entry point for the Functions host (package.json "main"): registers every function. */
import "./rotationTimer.js";
import "./syncCheckTimer.js";
import "./rotateHttp.js";
import "./statusHttp.js";
import "./doctorHttp.js";
